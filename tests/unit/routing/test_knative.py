"""The Knative router and target: Flagger's knative_test.go expectations, the Knative Service as
its own target (no `-primary` copy), releases on the in-memory store with Knative Serving played
by `tests/support/knative.py`, refusals, the spec's pairing rules, and revertOnDeletion."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kanaria.analysis.observer import ObserverSettings, PrometheusObserver
from kanaria.errors import ConfigError, TemporaryError
from kanaria.providers.queries import builtin_query
from kanaria.providers.render import render_query
from kanaria.routing.base import Routes
from kanaria.routing.knative import KnativeRouter
from kanaria.spec.canary import Canary
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.naming import PRIMARY_REVISION_ANNOTATION
from kanaria.spec.objects import DEPLOYMENT, KNATIVE_REVISION, KNATIVE_SERVICE, SERVICE
from kanaria.workloads.knative import KnativeServiceTarget
from tests.unit.routing.meshes import (
    A_B_TESTING,
    BLUE_GREEN,
    MIRRORING,
    SESSION_AFFINITY,
    MeshRelease,
    knative_canary,
    knative_service,
    parsed,
    serve_knative,
    stored,
)


async def service(objects: MemoryObjects, namespace: str = "default") -> dict[str, Any]:
    found = await objects.get(KNATIVE_SERVICE, namespace, "podinfo")
    assert found is not None
    return found


async def setup() -> tuple[MemoryObjects, KnativeRouter]:
    """Flagger's fixture Service, with the revision `podinfo-00001` Knative made for it."""
    objects = MemoryObjects()
    await stored(objects, knative_service())
    await serve_knative(objects)
    assert (await service(objects))["status"]["latestCreatedRevisionName"] == "podinfo-00001"
    return objects, KnativeRouter(objects)


# -- Flagger's tests (knative_test.go) ----------------------------------------------------------


async def test_reconcile_as_flagger() -> None:
    objects, router = await setup()
    await router.reconcile(parsed(knative_canary()))
    annotations = (await service(objects))["metadata"]["annotations"]
    assert annotations[PRIMARY_REVISION_ANNOTATION] == "podinfo-00001"


async def test_set_routes_as_flagger() -> None:
    objects, router = await setup()
    canary = parsed(knative_canary())
    with pytest.raises(TemporaryError, match=r"annotation flagger\.app/primary-revision not found"):
        await router.set_routes(canary, Routes(10, 90))
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(10, 90))
    assert (await service(objects))["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 90},
        {"revisionName": "podinfo-00001", "percent": 10},
    ]


async def test_get_routes_as_flagger() -> None:
    objects, router = await setup()
    canary = parsed(knative_canary())
    with pytest.raises(TemporaryError, match="not found"):
        await router.get_routes(canary)
    await router.reconcile(canary)
    await objects.patch_status(
        KNATIVE_SERVICE,
        "default",
        "podinfo",
        {
            "traffic": [
                {"latestRevision": True, "percent": 90},
                {"revisionName": "podinfo-00001", "percent": 10},
            ]
        },
    )
    assert await router.get_routes(canary) == Routes(10, 90)


# -- reading the routes in force ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("traffic", "error"),
    [
        ([{"revisionName": "podinfo-00001", "percent": 100}], "traffic spec invalid"),
        ([{"latestRevision": True, "percent": 100}], "traffic spec invalid"),
        (
            [{"latestRevision": True, "percent": 0}, {"revisionName": "podinfo-00001"}],
            "primary revision traffic percent does not exist",
        ),
    ],
)
async def test_traffic_knative_has_not_applied_is_retried(
    traffic: list[dict[str, Any]], error: str
) -> None:
    objects, router = await setup()
    canary = parsed(knative_canary())
    await router.reconcile(canary)
    await objects.patch_status(KNATIVE_SERVICE, "default", "podinfo", {"traffic": traffic})
    with pytest.raises(TemporaryError, match=error):
        await router.get_routes(canary)


# -- the Knative Service as the target ------------------------------------------------------------


async def test_the_target_pins_traffic_to_the_current_revision_while_initializing() -> None:
    objects, _ = await setup()
    target, canary = KnativeServiceTarget(objects), parsed(knative_canary())
    await target.initialize(canary)
    found = await service(objects)
    assert found["metadata"]["annotations"][PRIMARY_REVISION_ANNOTATION] == "podinfo-00001"
    assert found["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 0},
        {"revisionName": "podinfo-00001", "percent": 100},
    ]
    assert (await target.revision(canary)).spec_hash == "podinfo-00001"
    await target.check_primary_ready(canary)


async def test_a_revision_that_is_not_ready_holds_the_release() -> None:
    objects, _ = await setup()
    target, canary = KnativeServiceTarget(objects), parsed(knative_canary())
    await target.initialize(canary)
    await objects.patch_status(
        KNATIVE_REVISION,
        "default",
        "podinfo-00001",
        {"conditions": [{"type": "Ready", "status": "False"}]},
    )
    with pytest.raises(TemporaryError, match=r"Revision podinfo-00001\.default is not ready"):
        await target.check_canary_ready(canary)


# -- releases on the in-memory store ------------------------------------------------------------


def release_canary(**analysis: Any) -> dict[str, Any]:
    document = knative_canary()
    document["metadata"]["namespace"] = "test"
    document["spec"]["analysis"] = {
        "interval": "1m",
        "threshold": 2,
        "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
        **(analysis or {"maxWeight": 30, "stepWeight": 10}),
    }
    return document


async def read_weights(objects: MemoryObjects) -> tuple[int, int]:
    """The traffic Knative reports it applied, per revision: (the old one %, the new one %)."""
    percents: dict[str, int] = {}
    for target in (await service(objects, "test"))["status"]["traffic"]:
        name = target["revisionName"]
        percents[name] = percents.get(name, 0) + target.get("percent", 0)
    return percents.get("podinfo-00001", 0), percents.get("podinfo-00002", 0)


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ({}, [(100, 0), (90, 10), (80, 20), (70, 30), (0, 100)]),
        (BLUE_GREEN, [(100, 0), (0, 100)]),
    ],
    ids=["canary", "blue-green"],
)
async def test_release(analysis: dict[str, Any], expected: list[tuple[int, int]]) -> None:
    """Promotion makes the new revision the primary: all traffic stays on it."""
    release = await MeshRelease(KnativeRouter, release_canary(**analysis)).setup(
        knative_service(namespace="test")
    )
    assert await release.release(release.new_image, read_weights) == expected
    found = await service(release.objects, "test")
    assert found["status"]["latestCreatedRevisionName"] == "podinfo-00002"
    assert found["metadata"]["annotations"][PRIMARY_REVISION_ANNOTATION] == "podinfo-00002"
    # Knative keeps the versions: nothing was copied, no Services were made
    assert await release.objects.list(DEPLOYMENT, None) == []
    assert await release.objects.list(SERVICE, None) == []


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (A_B_TESTING, "provider knative cannot route by request"),
        (MIRRORING, "provider knative cannot mirror traffic"),
        (SESSION_AFFINITY, "provider knative cannot pin sessions"),
    ],
)
async def test_strategies_knative_would_ignore_are_refused(
    analysis: dict[str, Any], refusal: str
) -> None:
    release = await MeshRelease(KnativeRouter, release_canary(**analysis)).setup(
        knative_service(namespace="test")
    )
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)


# -- Flagger's pairing rules (controller.go verifyKnativeCanary) --------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda spec: spec.pop("provider"), "can't use the default provider with Knative"),
        (lambda spec: spec.update(provider="istio"), "can't use istio provider with Knative"),
        (
            lambda spec: spec.update(
                targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                service={"port": 80},
            ),
            "can't use apps/v1/Deployment as target if provider is set to knative",
        ),
        (
            lambda spec: spec.update(
                autoscalerRef={"apiVersion": "autoscaling/v2", "name": "podinfo"}
            ),
            "can't use autoscaler with Knative Service",
        ),
    ],
)
def test_knative_targets_and_provider_go_together(change: Any, error: str) -> None:
    document = knative_canary()
    change(document["spec"])
    with pytest.raises(ValidationError, match=error):
        Canary.model_validate(document)


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_gives_all_traffic_back_to_the_latest_revision() -> None:
    objects, router = await setup()
    canary = parsed(knative_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(60, 40))
    await router.finalize(canary)
    found = await service(objects)
    assert PRIMARY_REVISION_ANNOTATION not in (found["metadata"].get("annotations") or {})
    assert "traffic" not in found["spec"]  # Knative's default: all to the latest revision


# -- the metric queries ------------------------------------------------------------------------


async def test_queries_see_the_latest_revision_as_route() -> None:
    """Flagger's Knative queries select `<namespace>/{{ route }}`: the canary revision."""
    objects, _ = await setup()
    observer = PrometheusObserver(objects, ObserverSettings())
    canary = parsed(knative_canary())
    model = await observer._model(canary, canary.spec.analysis.metrics[0])
    query = render_query(builtin_query("knative", "request-success-rate"), model)
    assert 'envoy_cluster_name=~"default/podinfo-00001"' in query
    await observer.close()
