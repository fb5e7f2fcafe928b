"""Providers `gatewayapi:v1` and `gatewayapi:v1beta1` on the in-memory store: the HTTPRoute for
Flagger's test Canary (newTestGatewayAPICanary) with the fields gateway_api_test.go expects, and
each strategy: canary weights, A/B matches, blue/green mirroring, session affinity."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kanaria.errors import ConfigError, TemporaryError
from kanaria.routing import router_for
from kanaria.routing.base import Routes
from kanaria.routing.gatewayapi import V1, V1BETA1, GatewayAPIRouter, make_filters
from kanaria.spec.canary import Phase
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import HTTP_ROUTE, HTTP_ROUTE_V1BETA1, SERVICE
from tests.unit.routing.flagger import (
    AB_MATCH,
    FLUX_ANNOTATIONS,
    GATEWAY_API_CANARY,
    SESSION_AFFINITY,
    canary_of,
    get,
    selectors,
    store,
)

PROVIDERS = ["gatewayapi:v1", "gatewayapi:v1beta1"]
V1BETA1_ROUTE = HTTP_ROUTE_V1BETA1


def backend(name: str, weight: int) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": 80, "weight": weight}


async def reconciled(provider: str = "gatewayapi:v1", **analysis: Any) -> tuple[Any, Any, Any]:
    objects = await store()
    router = router_for(provider, objects)
    canary = canary_of(GATEWAY_API_CANARY, **analysis)
    await router.reconcile(canary)
    return objects, router, canary


async def rules(objects: MemoryObjects) -> list[dict[str, Any]]:
    return list((await get(objects, HTTP_ROUTE, "podinfo"))["spec"]["rules"])


async def test_reconcile_writes_flaggers_httproute() -> None:
    """TestGatewayAPIRouter_Reconcile, the whole spec compared."""
    objects, _, _ = await reconciled()
    route = await get(objects, HTTP_ROUTE, "podinfo")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [{"name": "podinfo"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [backend("podinfo-primary", 100), backend("podinfo-canary", 0)],
                "timeouts": {"request": "10s", "backendRequest": "5s"},
            }
        ],
    }
    assert route["metadata"]["annotations"] == FLUX_ANNOTATIONS
    assert route["metadata"]["ownerReferences"][0]["name"] == "podinfo"
    assert (await selectors(objects))["podinfo-canary"] == {"app": "podinfo"}
    service = await get(objects, SERVICE, "podinfo")
    assert service["spec"]["ports"][0]["targetPort"] == 9898


async def test_v1beta1_writes_no_timeouts() -> None:
    objects, _, _ = await reconciled("gatewayapi:v1beta1")
    route = await objects.get(V1BETA1_ROUTE, "default", "podinfo")
    assert route is not None
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
    assert "timeouts" not in route["spec"]["rules"][0]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_annotations_other_controllers_add_are_kept(provider: str) -> None:
    objects, router, canary = await reconciled(provider)
    route = await get(objects, HTTP_ROUTE, "podinfo")
    route["metadata"]["annotations"]["foo"] = "bar"
    await objects.replace(route)
    await router.reconcile(canary)
    assert (await get(objects, HTTP_ROUTE, "podinfo"))["metadata"]["annotations"]["foo"] == "bar"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_canary_weights_are_set_and_read_back(provider: str) -> None:
    objects, router, canary = await reconciled(provider)
    assert await router.get_routes(canary) == Routes(100, 0)
    await router.set_routes(canary, Routes(50, 50))
    assert (await rules(objects))[0]["backendRefs"][0]["weight"] == 50
    assert await router.get_routes(canary) == Routes(50, 50)
    writes = objects.writes
    await router.reconcile(canary)  # nothing but the weights differ: the release goes on
    assert objects.writes == writes


async def test_a_spec_change_rewrites_the_route_with_flaggers_initial_weights() -> None:
    objects, router, canary = await reconciled()
    await router.set_routes(canary, Routes(70, 30))
    canary.spec.service.timeout = "1m"
    await router.reconcile(canary)
    rule = (await rules(objects))[0]
    assert rule["timeouts"]["request"] == "1m"
    assert [ref["weight"] for ref in rule["backendRefs"]] == [100, 0]


async def test_ab_testing_sends_the_matching_requests_to_the_canary() -> None:
    objects, router, canary = await reconciled(iterations=2, match=AB_MATCH)
    await router.set_routes(canary, Routes(0, 100))
    ab, everyone = await rules(objects)
    assert ab["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"name": "x-user-type", "type": "Exact", "value": "test"}],
        }
    ]
    assert ab["backendRefs"] == [backend("podinfo-primary", 0), backend("podinfo-canary", 100)]
    assert everyone["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert everyone["backendRefs"] == [backend("podinfo-primary", 100)]
    assert await router.get_routes(canary) == Routes(0, 100)


async def test_service_and_analysis_matches_are_translated_and_crossed() -> None:
    canary = canary_of(
        GATEWAY_API_CANARY,
        iterations=2,
        match=[
            {"headers": {"x-user": {"regex": "^a.*"}}},
            {"queryParams": {"beta": {"exact": "1"}}},
        ],
    )
    canary.spec.service.match = [
        {"uri": {"prefix": "/api"}, "method": {"exact": "GET"}},
        {"uri": {"regex": "/v[0-9]+/.*"}, "headers": {"x-tier": {"exact": "gold"}}},
    ]
    objects = await store()
    await GatewayAPIRouter(objects).reconcile(canary)
    ab, everyone = await rules(objects)
    api = {"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET"}
    versioned = {
        "path": {"type": "RegularExpression", "value": "/v[0-9]+/.*"},
        "headers": [{"name": "x-tier", "type": "Exact", "value": "gold"}],
    }
    user = [{"name": "x-user", "type": "RegularExpression", "value": "^a.*"}]
    beta = [{"name": "beta", "type": "Exact", "value": "1"}]
    assert everyone["matches"] == [api, versioned]
    assert ab["matches"] == [
        {**api, "headers": user},
        {**versioned, "headers": user},
        {**api, "queryParams": beta},
        {**versioned, "queryParams": beta},
    ]


@pytest.mark.parametrize(
    "match",
    [{"uri": {"suffix": ".html"}}, {"method": {"regex": "GET|HEAD"}}, {"headers": {"a": {}}}],
)
async def test_a_match_gateway_api_cannot_express_is_a_config_error(match: Any) -> None:
    canary = canary_of(GATEWAY_API_CANARY)
    canary.spec.service.match = [match]
    with pytest.raises(ConfigError, match="Gateway API"):
        await GatewayAPIRouter(await store()).reconcile(canary)


async def test_gateway_refs_are_required() -> None:
    canary = canary_of(GATEWAY_API_CANARY)
    canary.spec.service.gateway_refs = []
    with pytest.raises(ConfigError, match=r"gatewayRefs must be specified"):
        await GatewayAPIRouter(await store()).reconcile(canary)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_blue_green_mirroring(provider: str) -> None:
    """TestGatewayAPIRouter_Routes, b/g mirror."""
    objects, router, canary = await reconciled(provider, mirror=True, iterations=5)
    await router.set_routes(canary, Routes(100, 0, mirrored=True))
    (rule,) = await rules(objects)
    mirror = {
        "type": "RequestMirror",
        "requestMirror": {
            "backendRef": {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 80}
        },
    }
    assert rule["filters"] == [mirror]
    assert await router.get_routes(canary) == Routes(100, 0, mirrored=True)
    canary.status.phase = Phase.PROGRESSING
    await router.reconcile(canary)
    assert await rules(objects) == [rule]  # the mirror stays while the analysis runs
    await router.set_routes(canary, Routes(0, 100))
    assert "filters" not in (await rules(objects))[0]


async def test_mirroring_needs_blue_green() -> None:
    objects, router, canary = await reconciled(mirror=True)
    await router.set_routes(canary, Routes(100, 0, mirrored=True))
    assert "filters" not in (await rules(objects))[0]


# --- session affinity -------------------------------------------------------------------------


def weights(rule: dict[str, Any]) -> list[int]:
    return [ref["weight"] for ref in rule["backendRefs"]]


def set_cookie_of(ref: dict[str, Any]) -> str:
    (modifier,) = ref["filters"]
    assert modifier["type"] == "ResponseHeaderModifier"
    (header,) = modifier["responseHeaderModifier"]["add"]
    assert header["name"] == "Set-Cookie"
    return str(header["value"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_session_affinity_as_flaggers_test(provider: str) -> None:
    """TestGatewayAPIRouter_Routes, session affinity: 90/10, a reconcile, 50/50, 100/0."""
    objects, router, canary = await reconciled(provider, sessionAffinity=SESSION_AFFINITY)
    await router.set_routes(canary, Routes(90, 10))
    cookie = canary.status.session_affinity_cookie
    assert cookie is not None
    assert cookie.startswith("flagger-cookie=")
    assert canary.status.primary_session_affinity_cookie is None  # no primaryCookieName
    sticky, weighted = await rules(objects)
    (header,) = sticky["matches"][0]["headers"]
    assert header == {"type": "RegularExpression", "name": "Cookie", "value": header["value"]}
    assert "flagger-cookie" in header["value"]
    assert cookie.split("=")[1] in header["value"]  # name *and* value
    assert weights(sticky) == [0, 100]
    assert all("filters" not in ref for ref in sticky["backendRefs"])
    assert weights(weighted) == [90, 10]
    assert set_cookie_of(weighted["backendRefs"][1]) == (
        f"{cookie}; Max-Age=300; Domain=flagger.app; HttpOnly; Partitioned; Path=/app; "
        "SameSite=Strict; Secure"
    )
    assert await router.get_routes(canary) == Routes(90, 10)

    await router.reconcile(canary)
    assert await rules(objects) == [sticky, weighted]

    await router.set_routes(canary, Routes(50, 50))
    sticky, weighted = await rules(objects)
    assert (weights(sticky), weights(weighted)) == ([0, 100], [50, 50])
    assert canary.status.session_affinity_cookie == cookie  # one cookie for the release

    await router.set_routes(canary, Routes(100, 0))
    assert canary.status.session_affinity_cookie is None
    assert canary.status.previous_session_affinity_cookie == cookie
    sticky, weighted = await rules(objects)
    assert sticky["filters"][-1]["responseHeaderModifier"]["add"] == [
        {"name": "Set-Cookie", "value": f"{cookie}; Max-Age=-1"}
    ]
    assert weights(sticky) == [100, 0]
    assert weights(weighted) == [100, 0]
    assert all("filters" not in ref for ref in weighted["backendRefs"])
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_the_primary_cookie_sticks_primary_users_for_one_interval() -> None:
    """TestGatewayAPIRouter_getSessionAffinityRouteRules, with a primary cookie."""
    affinity = {
        "cookieName": "canary-flagger-cookie",
        "primaryCookieName": "primary-flagger-cookie",
    }
    objects, router, canary = await reconciled(
        interval="15s", sessionAffinity={**affinity, "maxAge": 300}
    )
    await router.set_routes(canary, Routes(90, 10))
    canary_cookie = canary.status.session_affinity_cookie
    primary_cookie = canary.status.primary_session_affinity_cookie
    assert primary_cookie is not None
    assert primary_cookie.startswith("primary-flagger-cookie=")
    sticky_canary, sticky_primary, weighted = await rules(objects)
    assert (weights(sticky_canary), weights(sticky_primary)) == ([0, 100], [100, 0])
    assert primary_cookie.split("=")[1] in sticky_primary["matches"][0]["headers"][0]["value"]
    assert set_cookie_of(weighted["backendRefs"][1]) == f"{canary_cookie}; Max-Age=300"
    assert set_cookie_of(weighted["backendRefs"][0]) == f"{primary_cookie}; Max-Age=15"
    assert await router.get_routes(canary) == Routes(90, 10)


async def test_v1beta1_has_no_primary_cookie() -> None:
    affinity = {
        "cookieName": "canary-flagger-cookie",
        "primaryCookieName": "primary-flagger-cookie",
    }
    objects, router, canary = await reconciled(
        "gatewayapi:v1beta1", interval="15s", sessionAffinity=affinity
    )
    await router.set_routes(canary, Routes(90, 10))
    assert canary.status.primary_session_affinity_cookie is None
    _, weighted = await rules(objects)  # no sticky-primary rule either
    assert "filters" not in weighted["backendRefs"][0]
    assert set_cookie_of(weighted["backendRefs"][1]).endswith("; Max-Age=86400")  # the default


# --- filters and readiness ---------------------------------------------------------------------


async def test_filters_are_sorted_so_a_rebuild_writes_the_same_route() -> None:
    """TestGatewayAPIRouter_makeFilters."""
    canary = canary_of(GATEWAY_API_CANARY)
    operations = {"add": {"h3": "v3", "h1": "v1", "h2": "v2"}, "set": {"h2": "b", "h1": "a"}}
    canary.spec.service.headers = {"request": operations, "response": operations}
    built = make_filters(canary, V1)
    modifier = built[0]["requestHeaderModifier"]
    assert [h["name"] for h in modifier["add"]] == ["h1", "h2", "h3"]
    assert [h["name"] for h in modifier["set"]] == ["h1", "h2"]
    assert [f["type"] for f in built] == ["RequestHeaderModifier", "ResponseHeaderModifier"]


async def test_cors_rewrite_and_mirror_filters() -> None:
    """TestGatewayAPIRouter_makeFilters_CORS, with the rewrite and mirror filters."""
    canary = canary_of(GATEWAY_API_CANARY)
    canary.spec.service.cors_policy = {
        "allowOrigin": ["https://example.com", "https://app.example.com"],
        "allowOrigins": [{"regex": ".*"}],
        "allowMethods": ["GET", "POST", "PUT"],
        "allowHeaders": ["Content-Type", "Authorization"],
        "exposeHeaders": ["X-Custom-Header"],
        "allowCredentials": True,
        "maxAge": "24h",
    }
    canary.spec.service.rewrite = {"uri": "/v2", "authority": "api", "type": "ReplacePrefixMatch"}
    reference = {"name": "shadow", "port": 80, "kind": "Service"}
    canary.spec.service.mirror = [{"backendRef": reference, "percent": 5}]
    v1 = make_filters(canary, V1)
    assert [f["type"] for f in v1] == ["URLRewrite", "RequestMirror", "CORS"]
    assert v1[0]["urlRewrite"] == {
        "hostname": "api",
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"},
    }
    assert v1[1]["requestMirror"] == {"backendRef": reference}
    assert v1[2]["cors"] == {
        "allowOrigins": ["https://example.com", "https://app.example.com"],
        "allowMethods": ["GET", "POST", "PUT"],
        "allowHeaders": ["Content-Type", "Authorization"],
        "exposeHeaders": ["X-Custom-Header"],
        "allowCredentials": True,
        "maxAge": 86400,
    }
    v1beta1 = make_filters(canary, V1BETA1)
    assert [f["type"] for f in v1beta1] == ["URLRewrite", "RequestMirror"]
    assert v1beta1[1]["requestMirror"] == {"backendRef": reference, "percent": 5}


def parent(section: str | None, status: str, observed: int) -> dict[str, Any]:
    reference = {"name": "podinfo", **({"sectionName": section} if section else {})}
    condition = {"type": "Accepted", "status": status, "observedGeneration": observed}
    return {"parentRef": reference, "controllerName": "example", "conditions": [condition]}


@pytest.mark.parametrize(
    ("parents", "ready"),
    [
        ([parent("https", "False", 0), parent(None, "False", 4)], False),
        ([parent(None, "False", 5)], False),
        ([parent(None, "True", 4)], False),
        ([parent("https", "False", 0), parent(None, "True", 5)], True),
        ([], True),
    ],
)
async def test_v1_waits_until_the_gateway_accepts_the_route(
    parents: list[dict[str, Any]], ready: bool
) -> None:
    """TestGatewayAPIRouter_GetRoutes: generation 5, canary 10 / primary 90."""
    objects, router, canary = await reconciled()
    await router.set_routes(canary, Routes(90, 10))
    route = await get(objects, HTTP_ROUTE, "podinfo")
    while route["metadata"]["generation"] < 5:
        route["metadata"]["labels"] = {"generation": str(route["metadata"]["generation"])}
        route["spec"]["hostnames"] = [f"h{route['metadata']['generation']}.example.com"]
        route = await objects.replace(route)
    await objects.patch_status(HTTP_ROUTE, "default", "podinfo", {"parents": parents})
    if ready:
        assert await router.get_routes(canary) == Routes(90, 10)
    else:
        with pytest.raises(TemporaryError, match="parent podinfo is not ready"):
            await router.get_routes(canary)
    v1beta1 = router_for("gatewayapi:v1beta1", objects)
    assert await v1beta1.get_routes(canary) == Routes(90, 10)  # v1beta1 does not wait


async def test_finalize_leaves_the_route_as_flagger_does() -> None:
    objects, router, canary = await reconciled()
    before = copy.deepcopy(await rules(objects))
    await router.finalize(canary)
    assert await rules(objects) == before
