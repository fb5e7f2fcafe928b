"""Property: whatever a manifest becomes, `validate` answers without a traceback, and what it
accepts is applied and served by the controllers — none of them raises or marks it broken.

Runs `validate`'s checks, then the in-memory store, the workload controller, the autoscaler and
the mesh translation on mutations of the seed's manifests (a value replaced by another of any
type or size, a key removed or added), as a careless user or an attacker would write them.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kanaria.errors import ConfigError
from kanaria.platforms.local.guard import REASON
from kanaria.platforms.local.mesh import MeshSnapshot, gateway_server_ports, translate
from kanaria.platforms.local.state import StateDir
from kanaria.spec.documents import read_document
from kanaria.spec.objects import EVENT, Object
from tests.unit.local_mesh.test_translate import SERVICES
from tests.unit.local_runtime.fakes import World

SEED = Path(__file__).parents[3] / "examples" / "seed"
DOCUMENTS = {
    "deployment": yaml.safe_load((SEED / "podinfo.yaml").read_text()),
    "hpa": yaml.safe_load((SEED / "hpa.yaml").read_text()),
    "gateway": yaml.safe_load((SEED / "public-gateway.yaml").read_text()),
}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 65535, 65536, 2**31, 2**63, 1.5, float("inf")]),
    st.text(max_size=20),
    st.sampled_from(["", "100m", "64Mi", "-1", "Test", "a" * 64, "n" * 254, "1e3", "0x10"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Object]:
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    document = copy.deepcopy(DOCUMENTS[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(document) if p and p[:1] not in (("apiVersion",), ("kind",))]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            parent.pop(path[-1])
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return name, document


async def _served(name: str, document: Object) -> None:
    """Apply `document` next to the seed's Deployment and run every controller over it."""
    with tempfile.TemporaryDirectory() as folder:
        state = StateDir.at(folder)
        state.create()
        world = World(state)
        stored = json.loads(json.dumps(document, default=str))
        if name != "deployment":
            await world.objects.create(copy.deepcopy(DOCUMENTS["deployment"]))
        await world.objects.create(stored)
        await world.settle()
        await world.advance(2)
        await world.runtime.autoscaler.tick()
        if name == "gateway":
            ports = gateway_server_ports([stored])
            translate(MeshSnapshot(services=SERVICES, gateways=(stored,),
                                   gateway_ports=dict.fromkeys(ports, 18080)))  # fmt: skip
        marked = [e for e in await world.objects.list(EVENT, None) if e.get("reason") == REASON]
        assert marked == [], f"accepted, then broken: {marked[0]['message']}"


def _translate_gateway(gateway: Object) -> None:
    ports = dict.fromkeys(gateway_server_ports([gateway]), 18080)
    try:
        translate(MeshSnapshot(services=SERVICES, gateways=(gateway,), gateway_ports=ports))
    except ConfigError as exc:
        # Valid Istio the local platform does not serve (TCP, TLS, ...): `apply` says so there.
        if LOCAL_LIMITATION not in str(exc):
            raise


LOCAL_LIMITATION = "is not supported (HTTP, HTTP2, GRPC)"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
async def test_what_validate_accepts_is_served(case: tuple[str, Object]) -> None:
    name, document = case
    checked = read_document(document, "fuzz.yaml", 0)  # must not raise, whatever the input
    if any(problem.severity == "error" for problem in checked.problems):
        event(f"{name}: refused")
        assert all(problem.message for problem in checked.problems)
        return
    event(f"{name}: accepted")
    await _served(name, document)
