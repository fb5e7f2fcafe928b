"""The reference scenario on the API emulator: the seed's podinfo, HPA and Canary, unchanged,
released from 3.1.0 to 3.1.1 by the operator with Istio-named metrics from a real Prometheus;
and the same Canary failing its success-rate check and rolling back."""

from __future__ import annotations

import pytest

from tests.integration.kubernetes.harness import (
    DEPLOYMENTS,
    HookServer,
    apply_seed,
    canary_status,
    canary_weights,
    config,
    events,
    operator_thread,
    phase,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

SEED_EVENTS = [
    (
        "Warning",
        1,
        "podinfo-primary.test not ready: waiting for rollout to finish: observed deployment "
        "generation less then desired generation",
    ),
    ("Normal", 2, "all the metrics providers are available!"),
    ("Normal", 1, "Initialization done! podinfo.test"),
    ("Normal", 1, "New revision detected! Scaling up podinfo.test"),
    ("Normal", 1, "Starting canary analysis for podinfo.test"),
    ("Normal", 1, "Pre-rollout check acceptance-test passed"),
    ("Normal", 1, "Advance podinfo.test canary weight 10"),
    ("Normal", 1, "Advance podinfo.test canary weight 20"),
    ("Normal", 1, "Advance podinfo.test canary weight 30"),
    ("Normal", 1, "Advance podinfo.test canary weight 40"),
    ("Normal", 4, "(combined from similar events): Promotion completed! Scaling down podinfo.test"),
]


async def test_the_seed_release(
    k8s_cluster: EmulatedCluster, prometheus: PrometheusServer, hooks: HookServer
) -> None:
    cluster, emulator = k8s_cluster, k8s_cluster.emulator
    emulator.deployment_controller(rollout_delay=0.2)
    await apply_seed(cluster)
    settings = config(cluster, prometheus_url=prometheus.url, hooks=hooks)

    async with operator_thread(cluster, settings):
        await eventually(lambda: phase(cluster) == "Initialized", within=15)
        initialized = _objects(cluster)
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: phase(cluster) == "Succeeded", within=40)
        # the last event comes after the status write
        await eventually(lambda: _folded(cluster, SEED_EVENTS[-1]), within=5)

    primary, services, rules, hpa = initialized
    assert primary["spec"]["selector"]["matchLabels"] == {"app": "podinfo-primary"}
    assert services == {
        "podinfo": {"app": "podinfo-primary"},
        "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"},
    }
    assert rules == {"podinfo-primary", "podinfo-canary"}
    assert hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"

    assert canary_weights(cluster) == [0, 10, 20, 30, 40, 50, 0]
    promoted = emulator.get_object(DEPLOYMENTS, "test", "podinfo-primary")
    assert promoted is not None
    containers = promoted["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "stefanprodan/podinfo:3.1.1"
    target = emulator.get_object(DEPLOYMENTS, "test", "podinfo")
    assert target is not None
    assert target["spec"]["replicas"] == 0

    status = canary_status(cluster)
    assert status["conditions"][0] | {"lastUpdateTime": "", "lastTransitionTime": ""} == {
        "type": "Promoted",
        "status": "True",  # what `kubectl wait canary/podinfo --for=condition=promoted` waits for
        "reason": "Succeeded",
        "message": "Canary analysis completed successfully, promotion finished.",
        "lastUpdateTime": "",
        "lastTransitionTime": "",
    }
    assert status["lastPromotedSpec"] == status["lastAppliedSpec"]

    posted = await events(cluster)
    assert [(e["type"], e["count"], e["message"]) for e in posted] == SEED_EVENTS
    assert {(e["reason"], e["reportingComponent"], e["source"]["component"]) for e in posted} == {
        ("Synced", "kanaria", "kanaria")
    }
    assert [call["name"] for call in hooks.calls][:1] == ["podinfo"]
    assert {call["metadata"].get("type") for call in hooks.calls} == {"bash", None}


async def _folded(cluster: EmulatedCluster, expected: tuple[str, int, str]) -> bool:
    posted = await events(cluster)
    return (
        bool(posted)
        and (posted[-1]["type"], posted[-1]["count"], posted[-1]["message"]) == expected
    )


def _objects(cluster: EmulatedCluster) -> tuple[dict, dict, set[str], dict]:  # type: ignore[type-arg]
    emulator = cluster.emulator
    primary = emulator.get_object(DEPLOYMENTS, "test", "podinfo-primary")
    services = {
        name: (emulator.get_object("v1/services", "test", name) or {})["spec"]["selector"]
        for name in ("podinfo", "podinfo-primary", "podinfo-canary")
    }
    rules = {
        name
        for name in ("podinfo-primary", "podinfo-canary")
        if emulator.get_object("networking.istio.io/v1beta1/destinationrules", "test", name)
    }
    hpa = emulator.get_object("autoscaling/v2/horizontalpodautoscalers", "test", "podinfo-primary")
    assert primary is not None
    assert hpa is not None
    return primary, services, rules, hpa
