"""The operator outlives what clusters do to operators: API errors and conflicts in the middle
of a release, and being killed mid-release (a new one resumes at the same weight)."""

from __future__ import annotations

import pytest

from tests.integration.kubernetes.harness import (
    FAST,
    QUICK,
    apply_seed,
    canary_weights,
    config,
    current_weight,
    events,
    operator_process,
    operator_thread,
    phase,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually

pytestmark = pytest.mark.integration


async def test_a_release_survives_conflicts_and_server_errors(k8s_cluster: EmulatedCluster) -> None:
    cluster, emulator = k8s_cluster, k8s_cluster.emulator
    emulator.deployment_controller(rollout_delay=0.1)
    await apply_seed(cluster, "podinfo", QUICK)
    faults = [
        emulator.inject("patch", "canaries", status=409, subresource="status", times=3),
        emulator.inject("patch", "canaries", status=500, subresource="status", times=2),
        emulator.inject("patch", "virtualservices", status=500, times=2),
        emulator.inject("list", "deployments", status=503, times=2),  # the cache's first list
        emulator.inject("watch", "deployments", status=500, times=1),  # its watch: listed again
        emulator.inject("update", "deployments", status=409, times=1),  # the promotion's PUT
        emulator.inject("create", "events", status=500, times=2),
        emulator.inject("watch", "canaries", status=500, times=1),
    ]
    async with operator_thread(cluster, config(cluster, time_scale=FAST)):
        await eventually(lambda: phase(cluster) == "Initialized", within=15)
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: phase(cluster) == "Succeeded", within=30)

    assert [fault.hits for fault in faults] == [3, 2, 2, 2, 1, 1, 2, 1]
    assert canary_weights(cluster) == [0, 10, 20, 30, 40, 50, 0]


async def test_a_new_operator_resumes_where_a_killed_one_stopped(
    k8s_cluster: EmulatedCluster,
) -> None:
    cluster = k8s_cluster
    cluster.emulator.deployment_controller(rollout_delay=0.1)
    await apply_seed(cluster, "podinfo", QUICK)
    settings = config(cluster, time_scale=FAST)
    with operator_process(cluster, settings) as first:
        await eventually(lambda: phase(cluster) == "Initialized", within=20)
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: (current_weight(cluster) or 0) >= 20, within=20)
        first.kill()  # SIGKILL: no cleanup, a tick may be cut short
        first.wait(timeout=10)
    weight_at_kill = current_weight(cluster)
    assert weight_at_kill is not None
    assert 20 <= weight_at_kill < 50

    async with operator_thread(cluster, settings):
        await eventually(lambda: phase(cluster) == "Succeeded", within=30)

    assert canary_weights(cluster) == [0, 10, 20, 30, 40, 50, 0]  # no step lost or repeated
    messages = [event["message"] for event in await events(cluster)]
    assert messages.count("Starting canary analysis for podinfo.test") == 1
    assert not [message for message in messages if "Restarting analysis" in message]
