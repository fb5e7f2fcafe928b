"""Provider `nginx` on the in-memory store: the canary Ingress for Flagger's test Canary and
Ingress (newTestCanaryIngress, newTestIngress) with the annotations ingress_test.go expects,
canary weights, blue/green, A/B by header or cookie; mirroring has no NGINX form."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing import router_for
from kanaria.routing.base import Routes
from kanaria.routing.metadata import KUBECTL_ANNOTATION
from kanaria.routing.nginx import NginxRouter
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import INGRESS
from tests.unit.routing.flagger import FLUX_ANNOTATIONS, INGRESS_CANARY, canary_of, get, store
from tests.unit.routing.flagger import INGRESS as USER_INGRESS

DEFAULT = "nginx.ingress.kubernetes.io"


async def canary_ingress(objects: MemoryObjects) -> dict[str, Any]:
    return await get(objects, INGRESS, "podinfo-canary")


async def canary_annotations(objects: MemoryObjects) -> dict[str, str]:
    return dict((await canary_ingress(objects))["metadata"]["annotations"])


async def test_reconcile_copies_the_ingress_onto_the_canary_service() -> None:
    """TestIngressRouter_Reconcile (prefix custom.ingress.kubernetes.io), the whole object."""
    objects = await store(USER_INGRESS)
    router = NginxRouter(objects, "custom.ingress.kubernetes.io")
    await router.reconcile(canary_of(INGRESS_CANARY))
    created = await canary_ingress(objects)
    expected_spec = copy.deepcopy(USER_INGRESS["spec"])
    expected_spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "podinfo-canary"
    assert created["spec"] == expected_spec
    assert created["metadata"]["annotations"] == {
        **USER_INGRESS["metadata"]["annotations"],
        **FLUX_ANNOTATIONS,
        "custom.ingress.kubernetes.io/canary": "true",
        "custom.ingress.kubernetes.io/canary-weight": "0",
    }
    assert created["metadata"]["ownerReferences"][0]["name"] == "nginx"
    user = await get(objects, INGRESS, "podinfo")
    assert user["spec"] == USER_INGRESS["spec"]  # the user's Ingress is never changed


async def test_weights_are_set_and_read_back() -> None:
    """TestIngressRouter_GetSetRoutes (prefix prefix1.nginx.ingress.kubernetes.io)."""
    prefix = "prefix1.nginx.ingress.kubernetes.io"
    objects = await store(USER_INGRESS)
    router = NginxRouter(objects, prefix)
    canary = canary_of(INGRESS_CANARY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(50, 50))
    found = await canary_annotations(objects)
    assert (found[f"{prefix}/canary"], found[f"{prefix}/canary-weight"]) == ("true", "50")
    assert await router.get_routes(canary) == Routes(50, 50)
    await router.set_routes(canary, Routes(100, 0))
    found = await canary_annotations(objects)
    assert (found[f"{prefix}/canary"], found[f"{prefix}/canary-weight"]) == ("true", "0")
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_blue_green_switches_all_traffic_and_back() -> None:
    objects = await store(USER_INGRESS)
    router = router_for("nginx", objects)
    canary = canary_of(INGRESS_CANARY, iterations=3)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 100))
    assert (await canary_annotations(objects))[f"{DEFAULT}/canary-weight"] == "100"
    assert await router.get_routes(canary) == Routes(0, 100)
    await router.set_routes(canary, Routes(100, 0))
    assert await router.get_routes(canary) == Routes(100, 0)


@pytest.mark.parametrize(
    ("header", "condition", "annotation"),
    [
        ("x-user-type", {"exact": "test"}, "canary-by-header-value"),
        ("x-user-type", {"regex": "test"}, "canary-by-header-pattern"),
        ("cookie", {"exact": "test"}, "canary-by-cookie"),
    ],
)
async def test_ab_testing_by_header_or_cookie(
    header: str, condition: dict[str, str], annotation: str
) -> None:
    """TestIngressRouter_ABTest."""
    objects = await store(USER_INGRESS)
    router = NginxRouter(objects)
    match = [{"headers": {header: condition}}]
    canary = canary_of(INGRESS_CANARY, iterations=1, match=match)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(50, 50))
    found = await canary_annotations(objects)
    assert found[f"{DEFAULT}/canary"] == "true"
    assert found[f"{DEFAULT}/{annotation}"] == "test"
    if header != "cookie":
        assert found[f"{DEFAULT}/canary-by-header"] == "x-user-type"
    assert await router.get_routes(canary) == Routes(0, 100)
    await router.set_routes(canary, Routes(100, 0))  # the release is over: no one is routed
    found = await canary_annotations(objects)
    assert not [key for key in found if "canary-by" in key]
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_a_kubectl_applied_ingress_is_copied_without_its_last_applied_configuration() -> None:
    user = copy.deepcopy(USER_INGRESS)
    user["metadata"]["annotations"][KUBECTL_ANNOTATION] = json.dumps({"spec": {}})
    user["metadata"]["annotations"][f"{DEFAULT}/canary-by-header"] = "left-over"
    objects = await store(user)
    await NginxRouter(objects).reconcile(canary_of(INGRESS_CANARY))
    found = await canary_annotations(objects)
    assert KUBECTL_ANNOTATION not in found
    assert f"{DEFAULT}/canary-by-header" not in found


async def test_a_changed_ingress_spec_follows_without_touching_the_weights() -> None:
    objects = await store(USER_INGRESS)
    router = NginxRouter(objects)
    canary = canary_of(INGRESS_CANARY)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(70, 30))
    user = await get(objects, INGRESS, "podinfo")
    user["spec"]["rules"][0]["host"] = "www.example.com"
    await objects.replace(user)
    await router.reconcile(canary)
    assert (await canary_ingress(objects))["spec"]["rules"][0]["host"] == "www.example.com"
    assert await router.get_routes(canary) == Routes(70, 30)


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        ({"mirror": True}, "cannot mirror traffic"),
        ({"sessionAffinity": {"cookieName": "c"}}, "cannot pin sessions"),
        (
            {"iterations": 2, "match": [{"headers": {"x-user": {"prefix": "a"}}}]},
            "supports exact, regex",
        ),
        ({"iterations": 2, "match": [{"uri": {"prefix": "/beta"}}]}, "matches headers only"),
    ],
)
async def test_what_flagger_would_ignore_is_refused(analysis: Any, refusal: str) -> None:
    """Flagger ignores these on NGINX; kanaria says so before any traffic moves."""
    objects = await store(USER_INGRESS)
    with pytest.raises(ConfigError, match=refusal):
        await NginxRouter(objects).reconcile(canary_of(INGRESS_CANARY, **analysis))
    assert await objects.get(INGRESS, "default", "podinfo-canary") is None


async def test_the_ingress_reference_and_backend_are_required() -> None:
    objects = await store(USER_INGRESS)
    canary = canary_of(INGRESS_CANARY)
    canary.spec.ingress_ref = None
    with pytest.raises(ConfigError, match="ingress selector is empty"):
        await NginxRouter(objects).reconcile(canary)
    other = canary_of(INGRESS_CANARY)
    other.spec.service.name = "frontend"
    with pytest.raises(ConfigError, match="backend frontend not found in ingress podinfo"):
        await NginxRouter(objects).reconcile(other)


async def test_finalize_leaves_the_canary_ingress() -> None:
    objects = await store(USER_INGRESS)
    router = NginxRouter(objects)
    canary = canary_of(INGRESS_CANARY)
    await router.reconcile(canary)
    await router.finalize(canary)
    assert await objects.get(INGRESS, "default", "podinfo-canary") is not None
