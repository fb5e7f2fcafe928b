"""Provider `contour` on the in-memory store: the HTTPProxy for Flagger's test Canary
(newTestCanary) with the fields contour_test.go expects, canary weights, blue/green and A/B by
header; no weights at all is refused as Flagger refuses it."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing import router_for
from kanaria.routing.base import Routes
from kanaria.routing.contour import ContourRouter
from kanaria.spec.canary import Retries
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import HTTP_PROXY
from tests.unit.routing.flagger import (
    AB_MATCH,
    FLUX_ANNOTATIONS,
    TEST_CANARY,
    canary_of,
    get,
    store,
)


def service(name: str, weight: int, port: int = 9898) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "port": port}
    if weight:
        entry["weight"] = weight
    override = f"{name}.default.svc.cluster.local:{port}"
    entry["requestHeadersPolicy"] = {"set": [{"name": "l5d-dst-override", "value": override}]}
    return entry


async def routes(objects: MemoryObjects) -> list[dict[str, Any]]:
    return list((await get(objects, HTTP_PROXY, "podinfo"))["spec"]["routes"])


def primary_weights(found: list[dict[str, Any]]) -> list[int]:
    return [route["services"][0].get("weight", 0) for route in found]


async def test_reconcile_writes_flaggers_httpproxy() -> None:
    """TestContourRouter_Reconcile (ingress class contour), the whole object."""
    objects = await store()
    await ContourRouter(objects, ingress_class="contour").reconcile(canary_of(TEST_CANARY))
    proxy = await get(objects, HTTP_PROXY, "podinfo")
    assert proxy["spec"] == {
        "routes": [
            {
                "conditions": [{"prefix": "/podinfo"}],
                "services": [service("podinfo-primary", 100), service("podinfo-canary", 0)],
                "retryPolicy": {
                    "count": 10,
                    "perTryTimeout": "30s",
                    "retryOn": ["connect-failure", "gateway-error"],
                },
            }
        ],
        "ingressClassName": "contour",
    }
    assert proxy["status"] == {"currentStatus": "valid", "description": "valid HTTPProxy"}
    assert proxy["metadata"]["annotations"] == FLUX_ANNOTATIONS


async def test_a_changed_canary_updates_the_proxy() -> None:
    """TestContourRouter_Reconcile: port 8080 and timeout 1m, then A/B testing."""
    objects = await store()
    router = ContourRouter(objects, ingress_class="contour")
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    canary.spec.service.port = 8080
    canary.spec.service.timeout = "1m"
    await router.reconcile(canary)
    (route,) = await routes(objects)
    assert route["services"][0]["port"] == 8080
    assert route["timeoutPolicy"] == {"response": "1m", "idle": "5m"}
    assert route["conditions"][0]["prefix"] == "/podinfo"
    assert route["retryPolicy"]["count"] == 10
    await router.reconcile(canary_of(TEST_CANARY, iterations=5, match=AB_MATCH))
    first, _ = await routes(objects)
    assert first["conditions"][0]["header"] == {"name": "x-user-type", "exact": "test"}


async def test_weights_ab_testing_and_blue_green() -> None:
    """TestContourRouter_Routes."""
    objects = await store()
    router = router_for("contour", objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(50, 50))
    assert primary_weights(await routes(objects)) == [50]
    assert await router.get_routes(canary) == Routes(50, 50)
    ab = canary_of(TEST_CANARY, iterations=5, match=AB_MATCH)
    await router.reconcile(ab)
    assert primary_weights(await routes(objects)) == [100, 100]  # Flagger's reset
    await router.set_routes(ab, Routes(0, 100))
    assert primary_weights(await routes(objects)) == [0, 100]
    assert await router.get_routes(ab) == Routes(0, 100)


async def test_ab_header_conditions() -> None:
    match = [
        {"headers": {"x-a": {"exact": "1"}, "x-b": {"prefix": "beta"}}},
        {"headers": {"x-c": {"suffix": "-eu"}}},
    ]
    objects = await store()
    await ContourRouter(objects).reconcile(canary_of(TEST_CANARY, iterations=2, match=match))
    first, rest = await routes(objects)
    assert [condition["header"] for condition in first["conditions"]] == [
        {"name": "x-a", "exact": "1"},
        {"name": "x-b", "contains": "beta"},
        {"name": "x-c", "contains": "-eu"},
    ]
    assert {condition["prefix"] for condition in first["conditions"]} == {"/podinfo"}
    assert rest["conditions"] == [{"prefix": "/podinfo"}]


async def test_no_weights_at_all_is_refused() -> None:
    objects = await store()
    router = ContourRouter(objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    with pytest.raises(ConfigError, match="no valid weights"):
        await router.set_routes(canary, Routes(0, 0))


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (
            {"iterations": 2, "match": [{"headers": {"x-d": {"regex": "^z"}}}]},
            r"cannot match spec\.analysis\.match\[0\]\.headers\.x-d\.regex",
        ),
        ({"mirror": True}, "cannot mirror traffic"),
        ({"sessionAffinity": {"cookieName": "c"}}, "cannot pin sessions"),
    ],
)
async def test_what_flagger_would_ignore_is_refused(analysis: Any, refusal: str) -> None:
    """Flagger writes a regex as an empty exact match and ignores mirroring and session
    affinity on Contour; kanaria says so before any traffic moves."""
    objects = await store()
    with pytest.raises(ConfigError, match=refusal):
        await ContourRouter(objects).reconcile(canary_of(TEST_CANARY, **analysis))
    assert await objects.get(HTTP_PROXY, "default", "podinfo") is None


async def test_unchanged_canary_writes_nothing_and_finalize_leaves_the_proxy() -> None:
    objects = await store()
    router = ContourRouter(objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(80, 20))
    writes = objects.writes
    await router.reconcile(canary)
    assert objects.writes == writes
    await router.finalize(canary)
    assert await router.get_routes(canary) == Routes(80, 20)


async def test_retries_without_conditions_write_no_empty_retry_on() -> None:
    canary = canary_of(TEST_CANARY)
    canary.spec.service.retries = Retries(attempts=3)
    objects = await store()
    await ContourRouter(objects).reconcile(canary)
    (route,) = await routes(objects)
    assert route["retryPolicy"] == {"count": 3}


async def test_a_taken_over_proxy_gets_its_spec_back() -> None:
    user_spec = {"routes": [{"services": [{"name": "podinfo", "port": 9898}]}]}
    user_proxy = {
        "apiVersion": "projectcontour.io/v1",
        "kind": "HTTPProxy",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": user_spec,
    }
    objects = await store(user_proxy)
    router = ContourRouter(objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(60, 40))
    await router.finalize(canary)
    assert (await get(objects, HTTP_PROXY, "podinfo"))["spec"] == user_spec
