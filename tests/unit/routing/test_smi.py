"""The SMI router (linkerd, osm, smi:v1alpha1/2/3): Flagger's smi*_test.go expectations, a
release per strategy on the in-memory store, the strategies it refuses, and revertOnDeletion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kanaria.errors import ConfigError, TemporaryError
from kanaria.routing import ROUTERS, smi
from kanaria.routing.base import Routes
from kanaria.routing.managed import ORIGINAL_ANNOTATION
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import (
    TRAFFIC_SPLIT_V1ALPHA1,
    TRAFFIC_SPLIT_V1ALPHA2,
    TRAFFIC_SPLIT_V1ALPHA3,
    Kind,
)
from tests.unit.routing.meshes import (
    A_B_TESTING,
    BLUE_GREEN,
    MIRRORING,
    SESSION_AFFINITY,
    MeshRelease,
    deployment,
    parsed,
    release_document,
    smi_canary,
    stored,
)

PROVIDERS = {
    "linkerd": TRAFFIC_SPLIT_V1ALPHA1,
    "smi:v1alpha1": TRAFFIC_SPLIT_V1ALPHA1,
    "osm": TRAFFIC_SPLIT_V1ALPHA2,
    "smi:v1alpha2": TRAFFIC_SPLIT_V1ALPHA2,
    "smi:v1alpha3": TRAFFIC_SPLIT_V1ALPHA3,
}


async def split_of(
    objects: MemoryObjects, kind: Kind, name: str = "podinfo", ns: str = "default"
) -> dict[str, Any]:
    found = await objects.get(kind, ns, name)
    assert found is not None, f"TrafficSplit {name} missing"
    return found


def weights(kind: Kind, namespace: str = "test") -> Any:
    async def read(objects: MemoryObjects) -> tuple[int, int]:
        backends = {
            b["service"]: int(b["weight"])
            for b in (await split_of(objects, kind, ns=namespace))["spec"]["backends"]
        }
        return backends["podinfo-primary"], backends["podinfo-canary"]

    return read


# -- Flagger's tests (smi_test.go, smi_v1alpha2_test.go, smi_v1alpha3_test.go) -----------------


@pytest.mark.parametrize(
    ("provider", "hundred", "zero"),
    [("smi:v1alpha1", "100", "0"), ("smi:v1alpha2", 100, 0), ("smi:v1alpha3", 100, 0)],
)
async def test_sync_creates_the_split_flagger_expects(
    provider: str, hundred: Any, zero: Any
) -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    router = ROUTERS[provider](objects)
    await router.reconcile(parsed(smi_canary()))
    split = await split_of(objects, PROVIDERS[provider])
    assert split["spec"] == {
        "service": "podinfo",
        "backends": [
            {"service": "podinfo-canary", "weight": zero},
            {"service": "podinfo-primary", "weight": hundred},
        ],
    }
    renamed = smi_canary()
    renamed["spec"]["service"]["name"] = "test"
    await router.reconcile(parsed(renamed))
    assert (await split_of(objects, PROVIDERS[provider], "test"))["spec"]["service"] == "test"


@pytest.mark.parametrize(
    ("provider", "fifty"), [("smi:v1alpha1", "50"), ("smi:v1alpha2", 50), ("smi:v1alpha3", 50)]
)
async def test_set_and_get_routes_as_flagger(provider: str, fifty: Any) -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    router, canary = ROUTERS[provider](objects), parsed(smi_canary())
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(100, 0, False)
    await router.set_routes(canary, Routes(50, 50))
    backends = (await split_of(objects, PROVIDERS[provider]))["spec"]["backends"]
    assert [b["weight"] for b in backends] == [fifty, fifty]
    assert await router.get_routes(canary) == Routes(50, 50)


async def test_split_has_no_metadata_of_flaggers_filter_and_is_owned() -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    await smi.linkerd(objects).reconcile(parsed(smi_canary()))
    metadata = (await split_of(objects, TRAFFIC_SPLIT_V1ALPHA1))["metadata"]
    assert "annotations" not in metadata
    assert "labels" not in metadata
    assert [owner["kind"] for owner in metadata["ownerReferences"]] == ["Canary"]


async def test_hosts_name_the_split_service() -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    document = smi_canary()
    document["spec"]["service"]["hosts"] = ["podinfo.example.com"]
    await smi.osm(objects).reconcile(parsed(document))
    assert (await split_of(objects, TRAFFIC_SPLIT_V1ALPHA2))["spec"]["service"] == (
        "podinfo.example.com"
    )


async def test_a_reconcile_keeps_the_weights_and_restores_the_rest() -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    router, canary = smi.osm(objects), parsed(smi_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(70, 30))
    split = await split_of(objects, TRAFFIC_SPLIT_V1ALPHA2)
    split["spec"]["service"] = "hand-edited"
    await objects.replace(split)
    await router.reconcile(canary)
    split = await split_of(objects, TRAFFIC_SPLIT_V1ALPHA2)
    assert split["spec"]["service"] == "podinfo"
    assert await router.get_routes(canary) == Routes(100, 0)  # Flagger resets the weights too
    await router.set_routes(canary, Routes(70, 30))
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(70, 30)


async def test_zero_weights_and_a_missing_split_are_retried() -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    router, canary = smi.linkerd(objects), parsed(smi_canary())
    with pytest.raises(TemporaryError, match=r"TrafficSplit podinfo\.default not found"):
        await router.get_routes(canary)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 0))
    with pytest.raises(TemporaryError, match="does not contain routes"):
        await router.get_routes(canary)


@pytest.mark.parametrize(("quantity", "value"), [("100", 100), ("500m", 1), ("1500m", 2), (40, 40)])
def test_v1alpha1_weights_are_read_as_quantities(quantity: Any, value: int) -> None:
    assert smi._weight(quantity) == value


# -- releases on the in-memory store ------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_canary_release(provider: str) -> None:
    release = await MeshRelease(ROUTERS[provider], release_document(provider)).setup(
        deployment("podinfo", "test")
    )
    seen = await release.release(release.new_image, weights(PROVIDERS[provider]))
    assert seen == [(100, 0), (90, 10), (80, 20), (70, 30), (100, 0)]
    assert (await release.messages())[-1].endswith("Promotion completed! Scaling down podinfo.test")


async def test_blue_green_release() -> None:
    document = release_document("linkerd", **BLUE_GREEN)
    release = await MeshRelease(ROUTERS["linkerd"], document).setup(deployment("podinfo", "test"))
    seen = await release.release(release.new_image, weights(TRAFFIC_SPLIT_V1ALPHA1))
    assert seen == [(100, 0), (0, 100), (100, 0)]


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (
            A_B_TESTING,
            r"provider linkerd cannot route by request \(A/B testing\).*"
            r"uses provider gatewayapi:v1beta1",
        ),
        (MIRRORING, "provider linkerd cannot mirror traffic"),
        (SESSION_AFFINITY, "provider linkerd cannot pin sessions"),
    ],
)
async def test_strategies_a_traffic_split_cannot_carry_are_refused(
    analysis: dict[str, Any], refusal: str
) -> None:
    release = await MeshRelease(ROUTERS["linkerd"], release_document("linkerd", **analysis)).setup(
        deployment("podinfo", "test")
    )
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)  # the first waits for the primary to roll out
    assert await release.objects.get(TRAFFIC_SPLIT_V1ALPHA1, "test", "podinfo") is None


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_restores_a_split_that_was_there_before() -> None:
    objects = MemoryObjects()
    before = {"service": "podinfo", "backends": [{"service": "podinfo-v1", "weight": 100}]}
    await stored(
        objects,
        deployment("podinfo"),
        TRAFFIC_SPLIT_V1ALPHA2.new("default", "podinfo", spec=before),
    )
    router, canary = smi.osm(objects), parsed(smi_canary())
    await router.reconcile(canary)
    split = await split_of(objects, TRAFFIC_SPLIT_V1ALPHA2)
    assert json.loads(split["metadata"]["annotations"][ORIGINAL_ANNOTATION]) == before
    await router.set_routes(canary, Routes(60, 40))
    await router.finalize(canary)
    split = await split_of(objects, TRAFFIC_SPLIT_V1ALPHA2)
    assert split["spec"] == before
    assert ORIGINAL_ANNOTATION not in (split["metadata"].get("annotations") or {})


async def test_finalize_leaves_a_split_kanaria_made_to_the_garbage_collector() -> None:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    router, canary = smi.linkerd(objects), parsed(smi_canary())
    await router.reconcile(canary)
    await router.finalize(canary)
    split = await split_of(objects, TRAFFIC_SPLIT_V1ALPHA1)
    assert split["metadata"]["ownerReferences"][0]["name"] == "podinfo"
