"""Provider `kubernetes` and the Services every router keeps (Flagger's kubernetes_default and
no-op routers): the objects for Flagger's test Canary, blue/green as the only strategy, a
Canary with weights or A/B matches run as Flagger runs it, and revertOnDeletion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kanaria.errors import NotFoundError
from kanaria.routing import ROUTERS, router_for
from kanaria.routing.base import Routes, shifts_traffic
from kanaria.routing.kubernetes import KubernetesRouter, ServiceRouter
from kanaria.routing.metadata import KUBECTL_ANNOTATION
from kanaria.spec.objects import DEPLOYMENT, SERVICE
from tests.unit.routing.flagger import (
    FLUX_ANNOTATIONS,
    NAMESPACE,
    TEST_CANARY,
    canary_of,
    get,
    selectors,
    store,
)
from tests.unit.routing.release import StoredRelease, canary_document

SELECTORS = {
    "podinfo": {"app": "podinfo-primary"},
    "podinfo-primary": {"app": "podinfo-primary"},
    "podinfo-canary": {"app": "podinfo"},
}


def canary_with(**service: Any) -> Any:
    document = json.loads(json.dumps(TEST_CANARY))
    document["spec"]["service"].update(service)
    return canary_of(document)


async def test_the_router_keeps_services_and_nothing_else() -> None:
    objects = await store()
    router = router_for("kubernetes", objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    assert await selectors(objects) == SELECTORS
    kinds = {key[1] for key in objects.objects}
    assert kinds == {"Deployment", "Service"}
    writes = objects.writes
    await router.set_routes(canary, Routes(50, 50))
    assert objects.writes == writes  # no weights to write anywhere
    assert not shifts_traffic(router)
    assert shifts_traffic(ROUTERS["istio"](objects))


async def test_routes_read_back_as_flaggers_no_op_router() -> None:
    router = KubernetesRouter(await store())
    canary = canary_of(TEST_CANARY)
    assert await router.get_routes(canary) == Routes(100, 0)
    canary.status.iterations = 1
    assert await router.get_routes(canary) == Routes(0, 100)


async def test_services_for_flaggers_test_canary_headless() -> None:
    """TestServiceRouter_Create."""
    objects = await store()
    await ServiceRouter(objects).reconcile(canary_with(headless=True))
    canary_service = await get(objects, SERVICE, "podinfo-canary")
    port = canary_service["spec"]["ports"][0]
    assert (port["appProtocol"], port["name"], port["port"]) == ("http", "http", 9898)
    assert canary_service["spec"]["clusterIP"] == "None"
    primary = await get(objects, SERVICE, "podinfo-primary")
    assert (primary["spec"]["ports"][0]["name"], primary["spec"]["clusterIP"]) == ("http", "None")


async def test_traffic_distribution_on_every_service() -> None:
    """TestServiceRouter_TrafficDistribution."""
    objects = await store()
    await ServiceRouter(objects).reconcile(canary_with(trafficDistribution="PreferClose"))
    for name in SELECTORS:
        service = await get(objects, SERVICE, name)
        assert service["spec"]["trafficDistribution"] == "PreferClose"


async def test_a_port_change_and_a_hand_edit_follow_the_canary() -> None:
    """TestServiceRouter_Update and TestServiceRouter_Undo."""
    objects = await store()
    router = ServiceRouter(objects)
    await router.reconcile(canary_of(TEST_CANARY))
    await router.reconcile(canary_with(portName="grpc"))
    assert (await get(objects, SERVICE, "podinfo-canary"))["spec"]["ports"][0]["name"] == "grpc"
    edited = await get(objects, SERVICE, "podinfo-canary")
    edited["spec"]["ports"] = [{"name": "http2-podinfo", "port": 8080, "protocol": "TCP"}]
    await objects.replace(edited)
    await router.reconcile(canary_of(TEST_CANARY))
    port = (await get(objects, SERVICE, "podinfo-canary"))["spec"]["ports"][0]
    assert (port["name"], port["port"]) == ("http", 9898)


async def test_metadata_of_each_service() -> None:
    """TestServiceRouter_InitializeMetadata and _ReconcileMetadata."""
    objects = await store()
    router = ServiceRouter(objects)
    metadata = {"labels": {"test": "test"}, "annotations": {"test": "test"}}
    await router.reconcile(canary_with(canary=metadata, apex=metadata))
    canary_service = await get(objects, SERVICE, "podinfo-canary")
    assert canary_service["metadata"]["labels"] == {"test": "test", "app": "podinfo-canary"}
    assert canary_service["metadata"]["annotations"] == {"test": "test", **FLUX_ANNOTATIONS}
    primary = await get(objects, SERVICE, "podinfo-primary")
    assert primary["metadata"]["annotations"] == FLUX_ANNOTATIONS  # exactly Flagger's two
    assert primary["metadata"]["labels"] == {"app": "podinfo-primary"}
    assert primary["metadata"]["ownerReferences"][0]["kind"] == "Canary"
    changed = {"labels": {"test": "test1"}, "annotations": {"test1": "test"}}
    await router.reconcile(canary_with(canary=metadata, apex=changed))
    apex = await get(objects, SERVICE, "podinfo")
    assert apex["metadata"]["labels"] == {"test": "test1", "app": "podinfo"}
    assert apex["metadata"]["annotations"] == {"test1": "test", **FLUX_ANNOTATIONS}


@pytest.mark.parametrize("what", ["annotations", "labels"])
async def test_unmanaged_metadata_keeps_its_live_value(what: str) -> None:
    """TestServiceRouter_ReconcileUnmanagedMetadata."""
    objects = await store()
    router = ServiceRouter(objects)
    apex = {what: {"test": "expectedvalue"}}
    canary = canary_with(apex=apex, unmanagedMetadata={what: ["unmanaged"]})
    await router.reconcile(canary)
    live = await get(objects, SERVICE, "podinfo")
    live["metadata"][what].update(unmanaged="true", test="newvalue", removable="true")
    await objects.replace(live)
    await router.reconcile(canary)
    found = (await get(objects, SERVICE, "podinfo"))["metadata"][what]
    assert (found["test"], found["unmanaged"], "removable" in found) == (
        "expectedvalue",
        "true",
        False,
    )


async def test_a_service_kanaria_did_not_create_keeps_its_metadata() -> None:
    user_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE, "labels": {"team": "a"}},
        "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898}]},
    }
    objects = await store(user_service)
    await ServiceRouter(objects).reconcile(canary_of(TEST_CANARY))
    apex = await get(objects, SERVICE, "podinfo")
    assert apex["spec"]["selector"] == {"app": "podinfo-primary"}
    assert apex["metadata"]["labels"] == {"team": "a"}
    assert apex["metadata"]["annotations"] == FLUX_ANNOTATIONS  # Flux leaves it alone now


async def test_finalize_gives_a_taken_over_service_its_selector_back() -> None:
    """TestServiceRouter_Finalize, with what Flagger's test leaves unchecked checked."""
    user_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898}]},
    }
    objects = await store(user_service)
    router = KubernetesRouter(objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    assert (await get(objects, SERVICE, "podinfo"))["spec"]["selector"] == {
        "app": "podinfo-primary"
    }
    await router.finalize(canary)
    assert (await get(objects, SERVICE, "podinfo"))["spec"]["selector"] == {"app": "podinfo"}


async def test_finalize_restores_the_selector_kubectl_applied() -> None:
    applied = {"spec": {"selector": {"app": "podinfo", "tier": "web"}}}
    user_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "podinfo",
            "namespace": NAMESPACE,
            "annotations": {KUBECTL_ANNOTATION: json.dumps(applied)},
        },
        "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898}]},
    }
    objects = await store(user_service)
    router = KubernetesRouter(objects)
    canary = canary_of(TEST_CANARY)
    await router.reconcile(canary)
    await router.finalize(canary)
    restored = await get(objects, SERVICE, "podinfo")
    assert restored["spec"]["selector"] == {"app": "podinfo", "tier": "web"}


async def test_finalize_leaves_canary_owned_services_and_needs_the_apex() -> None:
    objects = await store()
    router = KubernetesRouter(objects)
    canary = canary_of(TEST_CANARY)
    with pytest.raises(NotFoundError, match=r"service podinfo\.default not found"):
        await router.finalize(canary)
    await router.reconcile(canary)
    await router.finalize(canary)
    assert await selectors(objects) == SELECTORS


# --- the release, as Flagger runs it on provider kubernetes -----------------------------------


async def _released(analysis: dict[str, Any]) -> StoredRelease:
    release = StoredRelease(KubernetesRouter)
    await release.setup(canary_document("kubernetes", {}, analysis))
    await release.until("Initialized")
    await release.set_image("stefanprodan/podinfo:3.1.1")
    selectors_seen: list[dict[str, dict[str, str]]] = []

    async def watch() -> None:
        selectors_seen.append(await selectors(release.objects, "test"))

    await release.until("Succeeded", each=watch)
    # users stay on the primary's pods throughout; promotion rolls the new version out to them
    assert all(seen == SELECTORS for seen in selectors_seen)
    primary = await release.objects.get(DEPLOYMENT, "test", "podinfo-primary")
    assert primary is not None
    image = primary["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "stefanprodan/podinfo:3.1.1"
    return release


async def test_blue_green_release_without_routing_steps() -> None:
    release = await _released({"iterations": 3})
    messages = await release.messages()
    expected = [f"Advance podinfo.test canary iteration {n}/3" for n in (1, 2, 3)]
    assert [m for m in messages if "iteration" in m] == expected
    assert not [m for m in messages if "Routing all traffic" in m]
    assert "Promotion completed! Scaling down podinfo.test" in messages[-1]
    assert (await release.status())["canaryWeight"] == 0


async def test_weights_on_kubernetes_are_run_as_ten_iterations_with_flaggers_warnings() -> None:
    release = await _released({"stepWeight": 10, "maxWeight": 50})
    events = await release.events()
    warnings = [message for kind, message in events if kind == "Warning"]
    assert "Progressive traffic is not supported when using the kubernetes provider" in warnings
    assert "Setting canaryAnalysis.iterations: 10" in warnings
    iterations = [m for _, m in events if "canary iteration" in m]
    assert iterations[0] == "Advance podinfo.test canary iteration 1/10"
    # Events fold after ten alike (as client-go's do); the status counts every iteration
    assert max(status.get("iterations", 0) for status in release.statuses) == 11  # and the switch
    assert not [m for _, m in events if "canary weight" in m]


async def test_ab_testing_on_kubernetes_is_warned_about_and_run_as_blue_green() -> None:
    release = await _released(
        {"iterations": 2, "match": [{"headers": {"x-user-type": {"exact": "test"}}}]}
    )
    events = await release.events()
    assert (
        "Warning",
        "A/B testing is not supported when using the kubernetes provider",
    ) in events
    assert [m for _, m in events if "canary iteration" in m][-1].endswith("iteration 2/2")
