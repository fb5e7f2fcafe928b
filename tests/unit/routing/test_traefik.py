"""Provider `traefik` on the in-memory store: the TraefikService for Flagger's test Canary
(newTestCanary) as traefik_test.go expects it, canary weights and blue/green; no weights at all
is refused as in Flagger, and A/B matches, mirroring and session affinity, which Flagger
ignores, are refused."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing import router_for
from kanaria.routing.base import Router, Routes
from kanaria.spec.canary import Canary, ServiceMetadata
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import TRAEFIK_SERVICE
from tests.unit.routing.flagger import (
    AB_MATCH,
    FLUX_ANNOTATIONS,
    TEST_CANARY,
    canary_of,
    get,
    store,
)

APEX = ServiceMetadata(labels={"test": "label"}, annotations={"test": "annotation"})


async def services(objects: MemoryObjects) -> list[dict[str, Any]]:
    found = await get(objects, TRAEFIK_SERVICE, "podinfo")
    return list(found["spec"]["weighted"]["services"])


async def reconciled(**analysis: Any) -> tuple[MemoryObjects, Router, Canary]:
    objects = await store()
    router = router_for("traefik", objects)
    canary = canary_of(TEST_CANARY, **analysis)
    canary.spec.service.apex = APEX
    await router.reconcile(canary)
    return objects, router, canary


async def test_reconcile_writes_flaggers_traefik_service() -> None:
    """TestTraefikRouter_Reconcile: the primary alone, the apex metadata."""
    objects, router, canary = await reconciled()
    found = await get(objects, TRAEFIK_SERVICE, "podinfo")
    assert found["apiVersion"] == "traefik.io/v1alpha1"
    assert found["spec"] == {
        "weighted": {
            "services": [
                {"name": "podinfo-primary", "namespace": "default", "port": 9898, "weight": 100}
            ]
        }
    }
    assert found["metadata"]["labels"] == {"test": "label"}
    assert found["metadata"]["annotations"] == {"test": "annotation", **FLUX_ANNOTATIONS}
    assert await router.get_routes(canary) == Routes(100, 0)


@pytest.mark.parametrize(("primary", "canary_weight"), [(60, 40), (100, 0)])
async def test_a_reconcile_keeps_the_weights(primary: int, canary_weight: int) -> None:
    """TestTraefikRouter_Reconcile: Reconcile, SetRoutes, Reconcile."""
    objects, router, canary = await reconciled()
    await router.set_routes(canary, Routes(primary, canary_weight))
    await router.reconcile(canary)
    found = await services(objects)
    assert [service.get("weight", 0) for service in found] == (
        [primary, canary_weight] if canary_weight else [primary]
    )


async def test_set_routes_lists_the_canary_only_with_weight() -> None:
    """TestTraefikRouter_SetRoutes: its table, in order, on one TraefikService."""
    objects, router, canary = await reconciled()
    table = [(100, 0, 1), (80, 20, 2), (60, 40, 2), (40, 60, 2), (20, 80, 2), (0, 100, 2)]
    for primary, canary_weight, listed in [*table, (100, 0, 1)]:
        await router.set_routes(canary, Routes(primary, canary_weight))
        found = await services(objects)
        assert len(found) == listed
        assert found[0].get("weight", 0) == primary  # a weight of 0 is left out
        if canary_weight:
            assert (found[1]["name"], found[1]["weight"]) == ("podinfo-canary", canary_weight)
        assert await router.get_routes(canary) == Routes(primary, canary_weight)


async def test_blue_green_switches_all_traffic() -> None:
    objects, router, canary = await reconciled(iterations=2)
    await router.set_routes(canary, Routes(0, 100))
    assert await router.get_routes(canary) == Routes(0, 100)
    assert [service["name"] for service in await services(objects)] == [
        "podinfo-primary",
        "podinfo-canary",
    ]


async def test_no_weights_at_all_is_refused() -> None:
    _, router, canary = await reconciled()
    with pytest.raises(ConfigError, match="no valid weights"):
        await router.set_routes(canary, Routes(0, 0))


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        ({"iterations": 2, "match": AB_MATCH}, "cannot route by request"),
        ({"mirror": True}, "cannot mirror traffic"),
        ({"sessionAffinity": {"cookieName": "c"}}, "cannot pin sessions"),
    ],
)
async def test_what_flagger_would_ignore_is_refused(analysis: Any, refusal: str) -> None:
    """Flagger ignores these on Traefik, so an A/B Canary sent every request to the canary."""
    objects = await store()
    with pytest.raises(ConfigError, match=refusal):
        await router_for("traefik", objects).reconcile(canary_of(TEST_CANARY, **analysis))
    assert await objects.get(TRAEFIK_SERVICE, "default", "podinfo") is None


async def test_changed_apex_metadata_is_written() -> None:
    objects, router, canary = await reconciled()
    canary.spec.service.apex = ServiceMetadata(labels={"team": "web"})
    await router.reconcile(canary)
    found = await get(objects, TRAEFIK_SERVICE, "podinfo")
    assert found["metadata"]["labels"] == {"team": "web"}
    assert found["metadata"]["annotations"] == FLUX_ANNOTATIONS


async def test_a_taken_over_traefik_service_gets_its_spec_back() -> None:
    user_spec = {
        "weighted": {"services": [{"name": "podinfo", "namespace": "default", "port": 9898}]}
    }
    user_service = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": user_spec,
    }
    objects = await store(user_service)
    router = router_for("traefik", objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(100, 0)
    await router.finalize(canary)
    assert (await get(objects, TRAEFIK_SERVICE, "podinfo"))["spec"] == user_spec
