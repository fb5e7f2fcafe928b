"""Istio session affinity as Flagger's istio_test.go checks it, on Flagger's test Canary
(newTestCanary, whose service match is crossed with the cookie match): a random cookie for the
release matched by name and value, its attributes, the primary cookie, and its expiry."""

from __future__ import annotations

from typing import Any

from kanaria.routing.base import Routes
from kanaria.routing.istio import IstioRouter
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import VIRTUAL_SERVICE
from tests.unit.routing.flagger import SESSION_AFFINITY, TEST_CANARY, canary_of, get, store


async def http(objects: MemoryObjects) -> list[dict[str, Any]]:
    return list((await get(objects, VIRTUAL_SERVICE, "podinfo"))["spec"]["http"])


def weights(rule: dict[str, Any]) -> list[int]:
    return [destination["weight"] for destination in rule["route"]]


def set_cookie(headers: dict[str, Any] | None) -> str | None:
    value = ((headers or {}).get("response") or {}).get("add", {}).get("Set-Cookie")
    return None if value is None else str(value)


async def test_session_affinity_as_flaggers_test() -> None:
    """TestIstioRouter_SetRoutes, session affinity: (0, 10), a reconcile, (50, 50), (100, 0)."""
    objects = await store()
    router = IstioRouter(objects)
    canary = canary_of(TEST_CANARY, sessionAffinity=SESSION_AFFINITY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 10))
    cookie = canary.status.session_affinity_cookie
    assert cookie is not None
    assert cookie.startswith("flagger-cookie=")
    sticky, weighted = await http(objects)
    (match,) = sticky["match"]
    assert match["uri"] == {"prefix": "/podinfo"}  # the service match, crossed
    assert match["headers"] == {"Cookie": {"regex": f".*flagger-cookie.*{cookie.split('=')[1]}.*"}}
    assert weights(sticky) == [0, 100]
    assert weights(weighted) == [0, 10]
    assert set_cookie(weighted["route"][1].get("headers")) == (
        f"{cookie}; Max-Age=300; Domain=flagger.app; HttpOnly; Partitioned; Path=/app; "
        "SameSite=Strict; Secure"
    )
    assert await router.get_routes(canary) == Routes(0, 10)

    await router.reconcile(canary)
    assert await http(objects) == [sticky, weighted]

    await router.set_routes(canary, Routes(50, 50))
    sticky, weighted = await http(objects)
    assert (weights(sticky), weights(weighted)) == ([0, 100], [50, 50])
    assert await router.get_routes(canary) == Routes(50, 50)

    await router.set_routes(canary, Routes(100, 0))
    assert canary.status.session_affinity_cookie is None
    assert canary.status.previous_session_affinity_cookie == cookie
    sticky, weighted = await http(objects)
    assert weights(sticky) == [100, 0]
    assert set_cookie(sticky["headers"]) == f"{cookie}; Max-Age=-1"
    assert sticky["headers"]["request"]["add"] == {"x-envoy-upstream-rq-timeout-ms": "15000"}
    assert set_cookie(weighted["route"][1].get("headers")) is None
    assert set_cookie(weighted.get("headers")) is None  # only the sticky rule expires it
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_the_primary_cookie_lives_one_interval() -> None:
    """TestIstioRouter_getSessionAffinityRouteRules, with a primary cookie."""
    objects = await store()
    router = IstioRouter(objects)
    affinity = {
        "cookieName": "canary-flagger-cookie",
        "primaryCookieName": "primary-flagger-cookie",
        "maxAge": 300,
    }
    canary = canary_of(TEST_CANARY, interval="15s", sessionAffinity=affinity)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(90, 10))
    canary_cookie = canary.status.session_affinity_cookie
    primary_cookie = canary.status.primary_session_affinity_cookie
    assert primary_cookie is not None
    sticky_canary, sticky_primary, weighted = await http(objects)
    assert (weights(sticky_canary), weights(sticky_primary)) == ([0, 100], [100, 0])
    primary_value = primary_cookie.split("=")[1]
    assert primary_value in sticky_primary["match"][0]["headers"]["Cookie"]["regex"]
    assert set_cookie(weighted["route"][1]["headers"]) == f"{canary_cookie}; Max-Age=300"
    assert set_cookie(weighted["route"][0]["headers"]) == f"{primary_cookie}; Max-Age=15"
    await router.set_routes(canary, Routes(80, 20))
    assert canary.status.primary_session_affinity_cookie == primary_cookie
    assert await router.get_routes(canary) == Routes(80, 20)


async def test_an_unset_max_age_is_a_day() -> None:
    objects = await store()
    router = IstioRouter(objects)
    canary = canary_of(TEST_CANARY, sessionAffinity={"cookieName": "c", "maxAge": 0})
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(90, 10))
    _, weighted = await http(objects)
    assert str(set_cookie(weighted["route"][1]["headers"])).endswith("; Max-Age=86400")
