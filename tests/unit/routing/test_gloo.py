"""The Gloo Edge router: Flagger's gloo_test.go expectations, Upstreams from `upstreamRef`,
releases per strategy on the in-memory store, refusals, and revertOnDeletion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kanaria.errors import ConfigError, TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.gloo import GlooRouter
from kanaria.routing.managed import ORIGINAL_ANNOTATION
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import GLOO_ROUTE_TABLE, GLOO_UPSTREAM
from tests.unit.routing.meshes import (
    A_B_TESTING,
    BLUE_GREEN,
    MIRRORING,
    SESSION_AFFINITY,
    MeshRelease,
    abtest_canary,
    deployment,
    istio_canary,
    parsed,
    release_document,
    stored,
)

PRIMARY_UPSTREAM = "default-podinfo-primaryupstream-9898"
CANARY_UPSTREAM = "default-podinfo-canaryupstream-9898"
AB_MATCH = abtest_canary()["spec"]["analysis"]["match"]


async def route_table(objects: MemoryObjects, namespace: str = "default") -> dict[str, Any]:
    found = await objects.get(GLOO_ROUTE_TABLE, namespace, "podinfo")
    assert found is not None, "RouteTable podinfo missing"
    return found


def destinations(table: dict[str, Any]) -> dict[str, int]:
    found = table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]
    return {d["destination"]["upstream"]["name"]: d.get("weight", 0) for d in found}


async def setup(*extra: dict[str, Any]) -> tuple[MemoryObjects, GlooRouter]:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"), *extra)
    return objects, GlooRouter(objects)


def as_ab_test(document: dict[str, Any]) -> dict[str, Any]:
    """What Flagger's tests do: iterations 5 and the A/B fixture's match."""
    analysis = document["spec"]["analysis"]
    analysis |= {"iterations": 5, "match": AB_MATCH}
    return document


# -- Flagger's tests (gloo_test.go) -------------------------------------------------------------


async def test_sync_as_flagger() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(istio_canary()))
    table = await route_table(objects)
    found = table["spec"]["routes"][0]["routeAction"]["multi"]["destinations"]
    assert [d.get("weight", 0) for d in found] == [100, 0]
    assert "weight" not in found[1]  # Gloo's weight is omitempty
    assert table["spec"]["routes"][0]["inheritablePathMatchers"] is True
    assert "matchers" not in table["spec"]["routes"][0]

    await router.reconcile(parsed(as_ab_test(istio_canary())))
    matcher = (await route_table(objects))["spec"]["routes"][0]["matchers"][0]
    assert matcher["headers"][0] == {"name": "x-user-type", "value": "test"}


async def test_set_routes_as_flagger() -> None:
    objects, router = await setup()
    canary = parsed(istio_canary())
    await router.reconcile(canary)
    await router.get_routes(canary)
    await router.set_routes(canary, Routes(50, 50))
    assert destinations(await route_table(objects)) == {PRIMARY_UPSTREAM: 50, CANARY_UPSTREAM: 50}
    await router.set_routes(parsed(as_ab_test(istio_canary())), Routes(0, 100))
    table = await route_table(objects)
    assert table["spec"]["routes"][0]["matchers"][0]["headers"][0] == {
        "name": "x-user-type",
        "value": "test",
    }
    assert destinations(table) == {PRIMARY_UPSTREAM: 0, CANARY_UPSTREAM: 100}


async def test_get_routes_as_flagger() -> None:
    _objects, router = await setup()
    canary = parsed(istio_canary())
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(100, 0, False)


# -- the objects in detail ---------------------------------------------------------------------


async def test_upstreams_point_at_flaggers_services() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(istio_canary()))
    primary = await objects.get(GLOO_UPSTREAM, "default", PRIMARY_UPSTREAM)
    canary = await objects.get(GLOO_UPSTREAM, "default", CANARY_UPSTREAM)
    assert primary is not None
    assert canary is not None
    assert primary["spec"] == {
        "kube": {
            "serviceName": "podinfo-primary",
            "serviceNamespace": "default",
            "servicePort": 9898,
            "selector": {"app": "podinfo-primary"},
        }
    }
    assert canary["spec"]["kube"]["selector"] == {"app": "podinfo"}
    assert primary["metadata"]["ownerReferences"][0]["kind"] == "Canary"


async def test_upstreams_copy_the_settings_of_the_upstream_ref() -> None:
    config = GLOO_UPSTREAM.new(
        "gloo-system",
        "podinfo-config",
        spec={
            "connectionConfig": {"maxRequestsPerConnection": 1},
            "loadBalancerConfig": {"roundRobin": {}},
            "httpProxyHostName": "proxy.example.com",
            "kube": {"serviceName": "unrelated"},
        },
    )
    objects, router = await setup(config)
    document = istio_canary()
    document["spec"]["upstreamRef"] = {
        "apiVersion": "gloo.solo.io/v1",
        "kind": "Upstream",
        "name": "podinfo-config",
        "namespace": "gloo-system",
    }
    await router.reconcile(parsed(document))
    upstream = await objects.get(GLOO_UPSTREAM, "default", CANARY_UPSTREAM)
    assert upstream is not None
    assert upstream["spec"]["connectionConfig"] == {"maxRequestsPerConnection": 1}
    assert upstream["spec"]["httpProxyHostName"] == "proxy.example.com"
    assert upstream["spec"]["kube"]["serviceName"] == "podinfo-canary"

    config["spec"]["loadBalancerConfig"] = {"leastRequest": {"choiceCount": 3}}
    found = await objects.get(GLOO_UPSTREAM, "gloo-system", "podinfo-config")
    assert found is not None
    await objects.replace({**found, "spec": config["spec"]})
    await router.reconcile(parsed(document))
    upstream = await objects.get(GLOO_UPSTREAM, "default", CANARY_UPSTREAM)
    assert upstream is not None
    assert upstream["spec"]["loadBalancerConfig"] == {"leastRequest": {"choiceCount": 3}}


async def test_a_missing_upstream_ref_is_retried() -> None:
    _objects, router = await setup()
    document = istio_canary()
    document["spec"]["upstreamRef"] = {"name": "absent"}
    with pytest.raises(TemporaryError, match=r"Upstream absent\.default not found"):
        await router.reconcile(parsed(document))


async def test_matchers_carry_regex_headers_and_methods() -> None:
    objects, router = await setup()
    document = istio_canary()
    document["spec"]["analysis"] |= {
        "iterations": 5,
        "match": [
            {"headers": {"x-canary": {"regex": "^(always|yes)$"}}, "method": {"exact": "POST"}},
            {"headers": {"cookie": {"exact": "canary=1"}}},
        ],
    }
    await router.reconcile(parsed(document))
    assert (await route_table(objects))["spec"]["routes"][0]["matchers"] == [
        {
            "headers": [
                {"name": "x-canary", "value": "^(always|yes)$", "regex": True},
                {"name": "cookie", "value": "canary=1"},
            ],
            "methods": ["POST"],
        }
    ]


async def test_route_table_metadata_is_the_apex_metadata_plus_flux_opt_out() -> None:
    objects, router = await setup()
    document = istio_canary()
    document["spec"]["service"]["apex"] = {"labels": {"team": "a"}, "annotations": {"x": "y"}}
    await router.reconcile(parsed(document))
    metadata = (await route_table(objects))["metadata"]
    assert metadata["labels"] == {"team": "a"}
    assert metadata["annotations"] == {
        "x": "y",
        "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
        "helm.toolkit.fluxcd.io/driftDetection": "disabled",
    }


async def test_zero_weights_are_refused() -> None:
    _objects, router = await setup()
    canary = parsed(istio_canary())
    await router.reconcile(canary)
    with pytest.raises(ConfigError, match="no valid weights"):
        await router.set_routes(canary, Routes(0, 0))


async def test_a_reconcile_keeps_the_weights_in_force() -> None:
    _objects, router = await setup()
    canary = parsed(istio_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(80, 20))
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(80, 20)


# -- releases on the in-memory store ------------------------------------------------------------


async def read_weights(objects: MemoryObjects) -> tuple[int, int]:
    found = destinations(await route_table(objects, "test"))
    return (
        found["test-podinfo-primaryupstream-9898"],
        found["test-podinfo-canaryupstream-9898"],
    )


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ({}, [(100, 0), (90, 10), (80, 20), (70, 30), (100, 0)]),
        (BLUE_GREEN, [(100, 0), (0, 100), (100, 0)]),
        (A_B_TESTING, [(100, 0), (0, 100), (100, 0)]),
    ],
    ids=["canary", "blue-green", "a-b-testing"],
)
async def test_release(analysis: dict[str, Any], expected: list[tuple[int, int]]) -> None:
    release = await MeshRelease(GlooRouter, release_document("gloo", **analysis)).setup(
        deployment("podinfo", "test")
    )
    assert await release.release(release.new_image, read_weights) == expected
    route = (await route_table(release.objects, "test"))["spec"]["routes"][0]
    if "match" in analysis:  # only requests with the header were sent to the canary
        assert route["matchers"] == [{"headers": [{"name": "x-user-type", "value": "test"}]}]
    else:
        assert "matchers" not in route


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (MIRRORING, "provider gloo cannot mirror traffic"),
        (SESSION_AFFINITY, "provider gloo cannot pin sessions"),
        (
            {"iterations": 2, "match": [{"uri": {"prefix": "/api"}}]},
            r"cannot route on spec.analysis.match\[0\].uri: it matches headers and method only",
        ),
        (
            {"iterations": 2, "match": [{"headers": {"x-user": {"prefix": "a"}}}]},
            r"cannot match spec\.analysis\.match\[0\]\.headers\.x-user\.prefix; "
            "it supports exact, regex",
        ),
    ],
)
async def test_what_gloo_would_ignore_is_refused(analysis: dict[str, Any], refusal: str) -> None:
    release = await MeshRelease(GlooRouter, release_document("gloo", **analysis)).setup(
        deployment("podinfo", "test")
    )
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)
    assert await release.objects.get(GLOO_ROUTE_TABLE, "test", "podinfo") is None


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_restores_a_route_table_that_was_there_before() -> None:
    before = {"routes": [{"routeAction": {"single": {"upstream": {"name": "legacy"}}}}]}
    objects, router = await setup(GLOO_ROUTE_TABLE.new("default", "podinfo", spec=before))
    canary = parsed(istio_canary())
    await router.reconcile(canary)
    table = await route_table(objects)
    assert json.loads(table["metadata"]["annotations"][ORIGINAL_ANNOTATION]) == before
    await router.set_routes(canary, Routes(50, 50))
    await router.reconcile(canary)  # a later reconcile keeps the record of the original
    await router.finalize(canary)
    table = await route_table(objects)
    assert table["spec"] == before
    assert ORIGINAL_ANNOTATION not in table["metadata"]["annotations"]
