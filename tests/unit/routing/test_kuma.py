"""The Kuma router: Flagger's kuma_test.go expectations, the cluster-scoped TrafficRoute, releases
on the in-memory store, refusals, and revertOnDeletion (which Flagger does not do for Kuma)."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConfigError, TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.kuma import CLUSTER_SCOPE, KumaRouter
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import KUMA_TRAFFIC_ROUTE
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


async def traffic_route(objects: MemoryObjects) -> dict[str, Any]:
    found = await objects.get(KUMA_TRAFFIC_ROUTE, CLUSTER_SCOPE, "podinfo")
    assert found is not None, "TrafficRoute podinfo missing"
    return found


async def setup() -> tuple[MemoryObjects, KumaRouter]:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"))
    return objects, KumaRouter(objects)


# -- Flagger's tests (kuma_test.go, on the SMI fixture) ------------------------------------------


async def test_reconcile_as_flagger() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(smi_canary()))
    route = await traffic_route(objects)
    assert [split["weight"] for split in route["spec"]["conf"]["split"]] == [100, 0]


async def test_routes_as_flagger() -> None:
    objects, router = await setup()
    canary = parsed(smi_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(50, 50))
    assert (await traffic_route(objects))["spec"]["conf"]["split"][0]["weight"] == 50
    assert await router.get_routes(canary) == Routes(50, 50)


# -- the object in detail ----------------------------------------------------------------------


async def test_traffic_route_names_kuma_services() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(smi_canary()))
    route = await traffic_route(objects)
    assert route["mesh"] == "default"
    assert route["spec"] == {
        "sources": [{"match": {"kuma.io/service": "*"}}],
        "destinations": [{"match": {"kuma.io/service": "podinfo_default_svc_80"}}],
        "conf": {
            "split": [
                {
                    "weight": 100,
                    "destination": {"kuma.io/service": "podinfo-primary_default_svc_80"},
                },
                {"weight": 0, "destination": {"kuma.io/service": "podinfo-canary_default_svc_80"}},
            ]
        },
    }
    # cluster-scoped: written without a namespace, and no namespaced Canary can own it
    assert "ownerReferences" not in route["metadata"]
    assert route["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/reconcile"] == "disabled"


async def test_the_mesh_comes_from_the_canary_annotation() -> None:
    objects, router = await setup()
    document = smi_canary()
    document["metadata"]["annotations"] = {"kuma.io/mesh": "payments"}
    await router.reconcile(parsed(document))
    assert (await traffic_route(objects))["mesh"] == "payments"


async def test_a_primary_at_zero_reads_as_all_to_the_canary() -> None:
    objects, router = await setup()
    canary = parsed(smi_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 100))
    assert await router.get_routes(canary) == Routes(0, 100)
    route = await traffic_route(objects)
    route["spec"]["conf"]["split"] = []
    await objects.replace(route)
    with pytest.raises(TemporaryError, match="does not contain routes"):
        await router.get_routes(canary)


# -- releases on the in-memory store ------------------------------------------------------------


async def read_weights(objects: MemoryObjects) -> tuple[int, int]:
    split = (await traffic_route(objects))["spec"]["conf"]["split"]
    weights = {s["destination"]["kuma.io/service"].split("_")[0]: s["weight"] for s in split}
    return weights["podinfo-primary"], weights["podinfo-canary"]


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ({}, [(100, 0), (90, 10), (80, 20), (70, 30), (100, 0)]),
        (BLUE_GREEN, [(100, 0), (0, 100), (100, 0)]),
    ],
    ids=["canary", "blue-green"],
)
async def test_release(analysis: dict[str, Any], expected: list[tuple[int, int]]) -> None:
    release = await MeshRelease(KumaRouter, release_document("kuma", **analysis)).setup(
        deployment("podinfo", "test")
    )
    assert await release.release(release.new_image, read_weights) == expected


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (A_B_TESTING, "provider kuma cannot route by request"),
        (MIRRORING, "provider kuma cannot mirror traffic"),
        (SESSION_AFFINITY, "provider kuma cannot pin sessions"),
    ],
)
async def test_strategies_kuma_would_ignore_are_refused(
    analysis: dict[str, Any], refusal: str
) -> None:
    release = await MeshRelease(KumaRouter, release_document("kuma", **analysis)).setup(
        deployment("podinfo", "test")
    )
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_deletes_the_route_no_garbage_collector_would() -> None:
    objects, router = await setup()
    canary = parsed(smi_canary())
    await router.reconcile(canary)
    await router.finalize(canary)
    assert await objects.get(KUMA_TRAFFIC_ROUTE, CLUSTER_SCOPE, "podinfo") is None


async def test_finalize_restores_a_route_that_was_there_before() -> None:
    objects, router = await setup()
    before = {"sources": [{"match": {"kuma.io/service": "*"}}], "conf": {"split": []}}
    await objects.create(
        {
            "apiVersion": KUMA_TRAFFIC_ROUTE.api_version,
            "kind": KUMA_TRAFFIC_ROUTE.kind,
            "mesh": "default",
            "metadata": {"name": "podinfo"},
            "spec": before,
        }
    )
    canary = parsed(smi_canary())
    await router.reconcile(canary)
    assert (await traffic_route(objects))["spec"] != before
    await router.finalize(canary)
    assert (await traffic_route(objects))["spec"] == before
