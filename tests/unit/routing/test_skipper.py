"""Provider `skipper` on the in-memory store: the canary Ingress for Flagger's test Ingress
(newTestIngress) with the annotations skipper_test.go expects, weights set and read back, the
predicate rules, and revertOnDeletion deleting the canary Ingress as Flagger does."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing import router_for
from kanaria.routing.base import Routes
from kanaria.routing.skipper import PREDICATE_ANNOTATION, WEIGHTS_ANNOTATION, insert_predicate
from kanaria.spec.objects import INGRESS
from tests.unit.routing.flagger import AB_MATCH, INGRESS_CANARY, canary_of, get, store
from tests.unit.routing.flagger import INGRESS as USER_INGRESS


async def test_reconcile_adds_the_canary_path_beside_the_primary() -> None:
    """TestSkipperRouter_Reconcile, on a fresh store and after the user's Ingress changed."""
    objects = await store(USER_INGRESS)
    router = router_for("skipper", objects)
    canary = canary_of(INGRESS_CANARY)
    for _ in range(2):
        await router.reconcile(canary)
        created = await get(objects, INGRESS, "podinfo-canary")
        annotations = created["metadata"]["annotations"]
        # byte for byte as Go writes the map
        assert annotations[WEIGHTS_ANNOTATION] == '{"podinfo-canary":0,"podinfo-primary":100}'
        assert annotations[PREDICATE_ANNOTATION] == "Weight(100)"
        assert annotations["kubernetes.io/ingress.class"] == "nginx"
        paths = created["spec"]["rules"][0]["http"]["paths"]
        assert [path["backend"]["service"]["name"] for path in paths] == [
            "podinfo-primary",
            "podinfo-canary",
        ]
        assert {path["backend"]["service"]["port"]["number"] for path in paths} == {9898}
        user = await get(objects, INGRESS, "podinfo")
        assert user["spec"] == USER_INGRESS["spec"]  # the user's Ingress is never changed
        user["metadata"]["annotations"]["something"] = "changed"
        await objects.replace(user)


@pytest.mark.parametrize(
    ("primary", "canary_weight"), [(100, 0), (90, 10), (80, 20), (70, 30), (15, 85), (0, 100)]
)
async def test_weights_are_set_and_read_back(primary: int, canary_weight: int) -> None:
    """TestSkipperRouter_GetSetRoutes."""
    objects = await store(USER_INGRESS)
    router = router_for("skipper", objects)
    canary = canary_of(INGRESS_CANARY)
    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(100, 0)
    await router.set_routes(canary, Routes(primary, canary_weight))
    annotations = (await get(objects, INGRESS, "podinfo-canary"))["metadata"]["annotations"]
    weights = {"podinfo-primary": primary, "podinfo-canary": canary_weight}
    assert json.loads(annotations[WEIGHTS_ANNOTATION]) == weights
    # no weight: the canary Ingress switched off (False() replaces Weight(100))
    expected_predicate = "False()" if canary_weight == 0 else "Weight(100)"
    assert annotations[PREDICATE_ANNOTATION] == expected_predicate
    assert await router.get_routes(canary) == Routes(primary, canary_weight)


HOST = "Host(/^my-host-header\\.example\\.org$/)"


@pytest.mark.parametrize(
    ("raw", "insert", "expected"),
    [
        (
            f'{HOST} && Method("GET") && Path("/hello")',
            "Weight(100)",
            f'Weight(100) && {HOST} && Method("GET") && Path("/hello")',
        ),
        ("", "Weight(100)", "Weight(100)"),
        (
            f'Weight(100) && {HOST} && Method("GET") && Path("/hello")',
            "Weight(100)",
            f'Weight(100) && {HOST} && Method("GET") && Path("/hello")',
        ),
        (
            f'{HOST} && Method("GET") && Path("/hello")&&False()',
            "False()",
            f'False() && {HOST} && Method("GET") && Path("/hello")',
        ),
        (
            f'{HOST} &&  False() && Method("GET") && Path("/hello")',
            "Weight(100)",
            f'Weight(100) && {HOST} && Method("GET") && Path("/hello")',
        ),
    ],
)
def test_insert_predicate(raw: str, insert: str, expected: str) -> None:
    """Test_insertPredicate."""
    assert insert_predicate(raw, insert) == expected


async def test_user_predicates_are_kept_behind_the_weight() -> None:
    user = copy.deepcopy(USER_INGRESS)
    user["metadata"]["annotations"][PREDICATE_ANNOTATION] = 'Method("GET")'
    objects = await store(user)
    router = router_for("skipper", objects)
    canary = canary_of(INGRESS_CANARY, iterations=2)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(0, 100))
    annotations = (await get(objects, INGRESS, "podinfo-canary"))["metadata"]["annotations"]
    assert annotations[PREDICATE_ANNOTATION] == 'Weight(100) && Method("GET")'
    assert await router.get_routes(canary) == Routes(0, 100)


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        ({"iterations": 2, "match": AB_MATCH}, "cannot route by request"),
        ({"mirror": True}, "cannot mirror traffic"),
    ],
)
async def test_what_flagger_would_ignore_is_refused(analysis: dict[str, Any], refusal: str) -> None:
    """Flagger's Skipper router has no A/B testing (an A/B Canary sent everyone to the canary)
    and no mirroring; kanaria refuses them."""
    objects = await store(USER_INGRESS)
    with pytest.raises(ConfigError, match=refusal):
        await router_for("skipper", objects).reconcile(canary_of(INGRESS_CANARY, **analysis))
    assert await objects.get(INGRESS, "default", "podinfo-canary") is None


async def test_finalize_deletes_the_canary_ingress() -> None:
    objects = await store(USER_INGRESS)
    router = router_for("skipper", objects)
    canary = canary_of(INGRESS_CANARY)
    await router.reconcile(canary)
    await router.finalize(canary)
    assert await objects.get(INGRESS, "default", "podinfo-canary") is None
    assert await objects.get(INGRESS, "default", "podinfo") is not None


async def test_the_ingress_reference_is_required() -> None:
    canary = canary_of(INGRESS_CANARY)
    canary.spec.ingress_ref = None
    with pytest.raises(ConfigError, match="ingress selector is empty"):
        await router_for("skipper", await store(USER_INGRESS)).reconcile(canary)
