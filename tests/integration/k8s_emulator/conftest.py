"""Makes the emulator's fixtures visible to the emulator's own tests."""

from tests.support.k8s.fixtures import k8s_cluster

__all__ = ["k8s_cluster"]
