"""The APISIX router: Flagger's apisix_test.go expectations, the canary copy of the ApisixRoute,
releases on the in-memory store, refusals, and revertOnDeletion."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing.apisix import ApisixRouter
from kanaria.routing.base import Routes
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import APISIX_ROUTE
from tests.unit.routing.meshes import (
    A_B_TESTING,
    BLUE_GREEN,
    MIRRORING,
    SESSION_AFFINITY,
    MeshRelease,
    deployment,
    istio_canary,
    parsed,
    release_document,
    stored,
)

ROUTE_REF = {"name": "podinfo", "kind": "ApisixRoute", "apiVersion": "apisix.apache.org/v2"}


def apisix_route(namespace: str = "default") -> dict[str, Any]:
    """`newTestApisixRoute`: one rule `method` for foobar.com, GET /*, backend podinfo:80."""
    return APISIX_ROUTE.new(
        namespace,
        "podinfo",
        spec={
            "http": [
                {
                    "name": "method",
                    "match": {"hosts": ["foobar.com"], "methods": ["GET"], "paths": ["/*"]},
                    "plugins": [
                        {
                            "name": "prometheus",
                            "enable": True,
                            "config": {"disable": "false", "prefer_name": "true"},
                        }
                    ],
                    "backends": [{"serviceName": "podinfo", "servicePort": 80}],
                }
            ]
        },
    )


def apisix_canary() -> dict[str, Any]:
    document = istio_canary()
    document["spec"]["routeRef"] = dict(ROUTE_REF)
    return document


async def canary_route(objects: MemoryObjects, namespace: str = "default") -> dict[str, Any]:
    found = await objects.get(APISIX_ROUTE, namespace, "podinfo-podinfo-canary")
    assert found is not None, "ApisixRoute podinfo-podinfo-canary missing"
    return found


async def setup(route: dict[str, Any] | None = None) -> tuple[MemoryObjects, ApisixRouter]:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"), route or apisix_route())
    return objects, ApisixRouter(objects)


# -- Flagger's tests (apisix_test.go) -----------------------------------------------------------


async def test_reconcile_as_flagger() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(apisix_canary()))
    assert len((await canary_route(objects))["spec"]["http"][0]["backends"]) == 2


async def test_get_set_routes_as_flagger() -> None:
    objects, router = await setup()
    canary = parsed(apisix_canary())
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(100, 0, False)
    await router.set_routes(canary, Routes(50, 50))
    assert await router.get_routes(canary) == Routes(50, 50, False)
    backends = (await canary_route(objects))["spec"]["http"][0]["backends"]
    assert [backend["weight"] for backend in backends] == [50, 50]


# -- the object in detail ----------------------------------------------------------------------


async def test_the_canary_route_is_the_matching_rule_weighted() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(apisix_canary()))
    route = await canary_route(objects)
    rule = apisix_route()["spec"]["http"][0]
    assert route["spec"]["http"] == [
        {
            **rule,
            "priority": 10000,
            "backends": [
                {"serviceName": "podinfo-primary", "servicePort": 80, "weight": 100},
                {"serviceName": "podinfo-canary", "servicePort": 80, "weight": 0},
            ],
        }
    ]
    assert route["metadata"]["ownerReferences"][0]["kind"] == "Canary"
    source = await objects.get(APISIX_ROUTE, "default", "podinfo")
    assert source is not None
    assert source["spec"] == apisix_route()["spec"]


async def test_only_the_rule_for_the_apex_service_is_copied() -> None:
    route = apisix_route()
    other = {"name": "other", "match": {"paths": ["/x"]}, "backends": [{"serviceName": "x"}]}
    route["spec"]["http"].insert(0, other)
    route["metadata"]["labels"] = {"team": "a"}
    objects, router = await setup(route)
    await router.reconcile(parsed(apisix_canary()))
    copied = await canary_route(objects)
    assert [rule["name"] for rule in copied["spec"]["http"]] == ["method"]
    assert copied["metadata"]["labels"] == {"team": "a"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda r: r["spec"].update(http=[]), "spec.http is empty"),
        (
            lambda r: r["spec"]["http"][0].update(backends=[{"serviceName": "elsewhere"}]),
            "no http rule has a backend with serviceName podinfo",
        ),
        (
            lambda r: r["spec"]["http"][0]["backends"].append({"serviceName": "second"}),
            "http rule method must have exactly one backend",
        ),
    ],
)
async def test_a_route_flagger_cannot_split_is_a_config_error(change: Any, error: str) -> None:
    route = apisix_route()
    change(route)
    _objects, router = await setup(route)
    with pytest.raises(ConfigError, match=error):
        await router.reconcile(parsed(apisix_canary()))


async def test_route_ref_is_required() -> None:
    _objects, router = await setup()
    with pytest.raises(ConfigError, match=r"provider apisix needs spec\.routeRef"):
        await router.reconcile(parsed(istio_canary()))


async def test_reconcile_keeps_weights_and_follows_the_source() -> None:
    objects, router = await setup()
    canary = parsed(apisix_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(80, 20))
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(80, 20)
    source = await objects.get(APISIX_ROUTE, "default", "podinfo")
    assert source is not None
    source["spec"]["http"][0]["match"]["paths"] = ["/v2/*"]
    await objects.replace(source)
    await router.reconcile(canary)
    assert (await canary_route(objects))["spec"]["http"][0]["match"]["paths"] == ["/v2/*"]


async def test_zero_weights_are_refused() -> None:
    _objects, router = await setup()
    canary = parsed(apisix_canary())
    await router.reconcile(canary)
    with pytest.raises(ConfigError, match="no valid weights"):
        await router.set_routes(canary, Routes(0, 0))


# -- releases on the in-memory store ------------------------------------------------------------


async def read_weights(objects: MemoryObjects) -> tuple[int, int]:
    backends = (await canary_route(objects, "test"))["spec"]["http"][0]["backends"]
    weights = {backend["serviceName"]: backend["weight"] for backend in backends}
    return weights["podinfo-primary"], weights["podinfo-canary"]


def release_canary(**analysis: Any) -> dict[str, Any]:
    document = release_document("apisix", **analysis)
    document["spec"]["routeRef"] = copy.deepcopy(ROUTE_REF)
    return document


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ({}, [(100, 0), (90, 10), (80, 20), (70, 30), (100, 0)]),
        (BLUE_GREEN, [(100, 0), (0, 100), (100, 0)]),
    ],
    ids=["canary", "blue-green"],
)
async def test_release(analysis: dict[str, Any], expected: list[tuple[int, int]]) -> None:
    release = await MeshRelease(ApisixRouter, release_canary(**analysis)).setup(
        deployment("podinfo", "test"), apisix_route("test")
    )
    assert await release.release(release.new_image, read_weights) == expected


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (A_B_TESTING, "provider apisix cannot route by request"),
        (MIRRORING, "provider apisix cannot mirror traffic"),
        (SESSION_AFFINITY, "provider apisix cannot pin sessions"),
    ],
)
async def test_strategies_apisix_would_ignore_are_refused(
    analysis: dict[str, Any], refusal: str
) -> None:
    release = await MeshRelease(ApisixRouter, release_canary(**analysis)).setup(
        deployment("podinfo", "test"), apisix_route("test")
    )
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_leaves_the_source_alone_and_the_copy_to_the_garbage_collector() -> None:
    objects, router = await setup()
    canary = parsed(apisix_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(50, 50))
    await router.finalize(canary)
    copy_owner = (await canary_route(objects))["metadata"]["ownerReferences"][0]
    assert copy_owner["name"] == "podinfo"
    source = await objects.get(APISIX_ROUTE, "default", "podinfo")
    assert source is not None
    assert source["spec"] == apisix_route()["spec"]
