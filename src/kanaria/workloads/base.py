"""The target contract: what the engine needs from the workload it releases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kanaria.spec.canary import Canary


@dataclass(frozen=True)
class Revision:
    """What identifies a release: the pod template's hash and the tracked configs' checksums."""

    spec_hash: str
    configs: dict[str, str] = field(default_factory=dict)


class Target(Protocol):
    """The workload being released (a Deployment and its `-primary` copy)."""

    async def initialize(self, canary: Canary) -> None:
        """Create `<target>-primary` (and its copied ConfigMaps/Secrets) if missing."""

    async def revision(self, canary: Canary) -> Revision:
        """The target's current revision."""

    async def check_primary_ready(self, canary: Canary) -> None:
        """Return when ready; TemporaryError while rolling out; PermanentError past deadline."""

    async def check_canary_ready(self, canary: Canary) -> None:
        """As check_primary_ready, for the target itself."""

    async def promote(self, canary: Canary) -> None:
        """Copy the target's template (and configs) to the primary."""

    async def scale_to_zero(self, canary: Canary) -> None: ...

    async def scale_from_zero(self, canary: Canary) -> None: ...

    async def reconcile_primary_scaler(self, canary: Canary, *, initial: bool) -> None:
        """Create (initial) or sync the primary's autoscaler from the target's."""
