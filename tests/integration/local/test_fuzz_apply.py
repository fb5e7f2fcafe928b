"""Property, bounded, on a real local platform: what `kanaria validate` accepts `kanaria apply`
accepts, and afterwards every controller and component is still healthy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.integration.local.conftest import Platform, kanaria
from tests.unit.security.test_fuzz_pipeline import LOCAL_LIMITATION, mutated

pytestmark = pytest.mark.integration

NAMESPACE = "fuzz"
COMPONENTS = ("control-plane", "store", "envoy", "controller/mesh", "controller/workloads")


def _in_own_namespace(document: dict[str, Any]) -> dict[str, Any]:
    moved = copy.deepcopy(document)
    metadata = moved.get("metadata")
    if isinstance(metadata, dict) and "namespace" in metadata:
        metadata["namespace"] = NAMESPACE
    return moved


def _healthy(platform: Platform) -> dict[str, str]:
    lines = platform.run("local", "status").out.splitlines()[1:]
    return {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=mutated())
def test_what_validate_accepts_apply_accepts_and_nothing_breaks(
    shared_platform: Platform, tmp_path_factory: pytest.TempPathFactory, case: tuple[str, Any]
) -> None:
    namespace = Path(tmp_path_factory.mktemp("fuzz")) / "namespace.yaml"
    namespace.write_text(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n")
    assert shared_platform.run("apply", "-f", str(namespace)).code == 0
    manifest = namespace.with_name("manifest.yaml")
    manifest.write_text(yaml.safe_dump(_in_own_namespace(case[1])))
    checked = kanaria("validate", "-f", str(manifest))
    assert "Traceback" not in checked.err
    applied = shared_platform.run("apply", "-f", str(manifest))
    assert "Traceback" not in applied.err
    if checked.code == 0 and LOCAL_LIMITATION not in applied.err:
        assert applied.code == 0, applied.err
    else:
        assert applied.code == 2, applied.err
    healthy = _healthy(shared_platform)
    assert all(healthy.get(component) == "yes" for component in COMPONENTS), healthy
