"""Two operators with `--leader-election`: the older one acts, the newer one waits, and takes over
from the status the leader wrote once the leader leaves. They never tick at the same time."""

from __future__ import annotations

import contextlib
import time

import pytest

from kanaria.engine.metrics import PrometheusRecorder
from kanaria.platforms.kubernetes.peering import priority_by_age
from kanaria.spec.canary import Canary
from tests.integration.kubernetes.harness import (
    FAST,
    QUICK,
    apply_seed,
    canary_weights,
    config,
    current_weight,
    operator_thread,
    phase,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually

pytestmark = pytest.mark.integration


class TickLog(PrometheusRecorder):
    """Notes when this operator finished a tick."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks: list[float] = []

    def tick_duration(self, canary: Canary, seconds: float) -> None:
        super().tick_duration(canary, seconds)
        self.ticks.append(time.monotonic())


async def test_only_the_leader_acts_and_the_follower_takes_over(
    k8s_cluster: EmulatedCluster,
) -> None:
    cluster = k8s_cluster
    cluster.emulator.deployment_controller(rollout_delay=0.1)
    await apply_seed(cluster, "podinfo", QUICK)
    settings = config(cluster, time_scale=FAST, leader_election=True)
    first, second = TickLog(), TickLog()
    started = time.time()

    async with contextlib.AsyncExitStack() as leader:
        await leader.enter_async_context(
            operator_thread(cluster, settings, first, priority_by_age(started), "first")
        )
        await eventually(lambda: phase(cluster) == "Initialized", within=15)
        later = priority_by_age(started + 1)
        async with operator_thread(cluster, settings, second, later, "second"):
            await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
            await eventually(lambda: (current_weight(cluster) or 0) >= 20, within=15)
            follower_ticks_while_led = len(second.ticks)
            await leader.aclose()  # the leader leaves (a rolling update, a drained node)
            left = time.monotonic()
            await eventually(lambda: phase(cluster) == "Succeeded", within=20)

    assert follower_ticks_while_led == 0
    assert first.ticks
    assert max(first.ticks) < left
    assert second.ticks
    assert min(second.ticks) > left
    assert canary_weights(cluster) == [0, 10, 20, 30, 40, 50, 0]
