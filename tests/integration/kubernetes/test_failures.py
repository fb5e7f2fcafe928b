"""What users see when a release or a Canary is wrong: a failing canary rolls back; a Canary
whose spec does not validate is told so on itself, and the others carry on."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.integration.kubernetes.harness import (
    DEPLOYMENTS,
    FAST,
    QUICK,
    apply,
    apply_seed,
    canary_weights,
    config,
    current_weight,
    events,
    operator_thread,
    phase,
    renamed,
    seed,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration


async def test_a_canary_below_its_success_rate_rolls_back(
    k8s_cluster: EmulatedCluster, prometheus: PrometheusServer
) -> None:
    cluster = k8s_cluster
    cluster.emulator.deployment_controller(rollout_delay=0.2)
    # the exporter serves `failing` at a 90 % success rate; the seed's check wants ≥ 99 %
    await apply_seed(cluster, "failing", {"threshold": 2, "webhooks": []})
    async with operator_thread(cluster, config(cluster, prometheus_url=prometheus.url)):
        await eventually(lambda: phase(cluster, "failing") == "Initialized", within=15)
        await set_image(cluster, "failing", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: phase(cluster, "failing") == "Failed", within=30)
        messages = await eventually(lambda: _messages_after_rollback(cluster), within=5)

    assert canary_weights(cluster, "failing") == [0, 10, 0]
    assert current_weight(cluster, "failing") == 0
    target = cluster.emulator.get_object(DEPLOYMENTS, "test", "failing")
    primary = cluster.emulator.get_object(DEPLOYMENTS, "test", "failing-primary")
    assert target is not None
    assert target["spec"]["replicas"] == 0
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":3.1.0")
    assert messages[-3:] == [
        ("Warning", 2, "Halt failing.test advancement request-success-rate 90.00% < 99%"),
        ("Warning", 1, "Rolling back failing.test failed checks threshold reached 2"),
        ("Normal", 1, "Canary failed! Scaling down failing.test"),
    ]


async def _messages_after_rollback(
    cluster: EmulatedCluster,
) -> list[tuple[str, int, str]] | None:
    posted = [(e["type"], e["count"], e["message"]) for e in await events(cluster, "failing")]
    done = posted[-1:] == [("Normal", 1, "Canary failed! Scaling down failing.test")]
    return posted if done else None


async def test_a_broken_canary_is_reported_and_the_others_go_on(
    k8s_cluster: EmulatedCluster,
) -> None:
    cluster = k8s_cluster
    cluster.emulator.deployment_controller(rollout_delay=0.1)
    await apply_seed(cluster, "podinfo", QUICK)
    broken = renamed(seed("podinfo-canary.yaml"), "broken")
    del broken["spec"]["analysis"]["stepWeight"]  # no strategy left
    await apply(cluster, renamed(seed("podinfo.yaml"), "broken"))
    await apply(cluster, renamed(seed("hpa.yaml"), "broken"))
    await apply(cluster, broken)

    async with operator_thread(cluster, config(cluster, time_scale=FAST)):
        await eventually(lambda: phase(cluster, "podinfo") == "Initialized", within=15)
        reported = await eventually(lambda: _status(cluster, "broken").get("message"), within=10)
        warnings = await eventually(lambda: _warnings(cluster, "broken"), within=5)
        await _fix(cluster)
        await eventually(lambda: phase(cluster, "broken") == "Initialized", within=15)
        await eventually(lambda: "message" not in _status(cluster, "broken"), within=5)

    assert "no strategy" in reported
    assert "stepWeight" in reported
    assert warnings == [reported]  # once, not once per tick


def _status(cluster: EmulatedCluster, name: str) -> dict[str, str]:
    found = cluster.emulator.get_object("flagger.app/v1beta1/canaries", "test", name) or {}
    status: dict[str, str] = found.get("status") or {}
    return status


async def _warnings(cluster: EmulatedCluster, name: str) -> list[str]:
    return [event["message"] for event in await events(cluster, name) if event["type"] == "Warning"]


async def _fix(cluster: EmulatedCluster) -> None:
    fix = {"spec": {"analysis": {"stepWeight": 10}}}
    await client.CustomObjectsApi(cluster.api).patch_namespaced_custom_object(  # type: ignore[call-arg]
        "flagger.app", "v1beta1", "test", "canaries", "broken", fix,
        _content_type="application/merge-patch+json",
    )  # fmt: skip
