"""Actions from the command line on a cluster: `kanaria pause|resume|abort|promote|retry
canary/podinfo --kubeconfig …` against the API emulator, answered by the operator."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from kanaria.cli.main import main
from tests.integration.kubernetes.harness import (
    HookServer,
    apply_seed,
    canary_status,
    config,
    current_weight,
    operator_thread,
    phase,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration


def kanaria(cluster: EmulatedCluster, action: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = [action, "canary/podinfo", "-n", "test", "--kubeconfig", str(cluster.kubeconfig)]
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--timeout", "20s"])
    return code, out.getvalue()


async def test_every_action_on_the_cluster(
    k8s_cluster: EmulatedCluster, prometheus: PrometheusServer, hooks: HookServer
) -> None:
    cluster = k8s_cluster
    cluster.emulator.deployment_controller(rollout_delay=0.2)
    await apply_seed(cluster)
    async with operator_thread(
        cluster, config(cluster, prometheus_url=prometheus.url, hooks=hooks)
    ):
        await eventually(lambda: phase(cluster) == "Initialized", within=15)
        rejected = await asyncio.to_thread(kanaria, cluster, "promote")
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: (current_weight(cluster) or 0) >= 10, within=20)
        paused = await asyncio.to_thread(kanaria, cluster, "pause")
        held = current_weight(cluster)
        await asyncio.sleep(3)  # three analysis intervals at this time scale
        still = current_weight(cluster)
        resumed = await asyncio.to_thread(kanaria, cluster, "resume")
        aborted = await asyncio.to_thread(kanaria, cluster, "abort")
        failed_phase = phase(cluster)
        retried = await asyncio.to_thread(kanaria, cluster, "retry")
        await eventually(lambda: (current_weight(cluster) or 0) >= 10, within=20)
        promoted = await asyncio.to_thread(kanaria, cluster, "promote")
        await eventually(lambda: phase(cluster) == "Succeeded", within=30)

    assert rejected[0] == 1
    assert "only a progressing release can be promoted" in rejected[1]
    assert paused[0] == 0, paused[1]
    assert still == held
    assert resumed[0] == 0, resumed[1]
    assert aborted[0] == 0, aborted[1]
    assert failed_phase == "Failed"
    assert retried[0] == 0, retried[1]
    assert promoted[0] == 0, promoted[1]
    assert canary_status(cluster)["action"]["action"] == "promote"
