"""The sequential judge inside a release: looks between ticks, acts at once on a verdict."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kanaria.analysis.counts import Counts
from kanaria.engine.simulated import SimulatedWorld
from kanaria.engine.tick import look
from tests.unit.engine.conftest import Rollout, seed_canary


class Traffic:
    """Cumulative counts of both versions, growing by the weights in force at each look."""

    def __init__(
        self, sim: SimulatedWorld, canary_error_rate: float, per_look: int = 200, seed: int = 7
    ) -> None:
        self.sim = sim
        self.per_look = per_look
        self.error_rates = {"primary": 0.001, "canary": canary_error_rate}
        self.random = random.Random(seed)
        self.totals = {"primary": [0, 0, 0], "canary": [0, 0, 0]}

    def __call__(self) -> tuple[Counts, Counts]:
        routes = self.sim.router.routes
        shares = {"primary": routes.primary_weight, "canary": routes.canary_weight}
        for version, share in shares.items():
            requests = self.per_look * share // 100
            errors = sum(self.random.random() < self.error_rates[version] for _ in range(requests))
            self.totals[version][0] += requests
            self.totals[version][1] += errors
        return Counts(*self.totals["primary"]), Counts(*self.totals["canary"])


def with_judge(**judge: Any) -> dict[str, Any]:
    document = seed_canary()
    document["spec"]["analysis"]["judge"] = {"latencyBound": None, "lookInterval": "10s", **judge}
    return document


async def run_with_looks(rollout: Rollout, looks_per_tick: int, ticks: int) -> None:
    world = rollout.sim.world
    for _ in range(ticks):
        await rollout.tick()
        for _ in range(looks_per_tick):
            await look(world, "test", "podinfo")
        if rollout.phase in ("Failed", "Succeeded"):
            return


async def test_a_bad_canary_is_rolled_back_by_the_judge_before_the_threshold(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_judge())
    sim.observer.counts_script = Traffic(sim, canary_error_rate=0.10)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await run_with_looks(rollout, looks_per_tick=5, ticks=12)
    assert rollout.phase == "Failed"
    judged = [m for m in rollout.messages if "sequential judge" in m]
    assert len(judged) == 1
    assert judged[0].startswith("Rolling back podinfo.test sequential judge: ")
    assert rollout.status["failedChecks"] == 0  # the thresholds never failed
    assert max(rollout.canary_weights) <= 20


async def test_an_identical_canary_is_promoted_early_when_allowed(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_judge(earlyPromotion=True, minCanaryRequests=300))
    sim.observer.counts_script = Traffic(sim, canary_error_rate=0.0, per_look=5000)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await run_with_looks(rollout, looks_per_tick=5, ticks=30)
    assert rollout.phase == "Succeeded"
    assert any(m.startswith("Sequential judge passed podinfo.test") for m in rollout.messages)
    assert max(rollout.canary_weights) < 50


async def test_judge_state_is_kept_in_the_status(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_judge())
    sim.observer.counts_script = Traffic(sim, canary_error_rate=0.001)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await run_with_looks(rollout, looks_per_tick=3, ticks=3)
    state = rollout.status["judge"]
    assert state["canaryRequests"] > 0
    assert state["primaryRequests"] > state["canaryRequests"]


async def test_without_a_judge_nothing_is_counted(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await run_with_looks(rollout, looks_per_tick=3, ticks=12)
    assert rollout.phase == "Succeeded"
    assert "judge" not in rollout.status or not rollout.status["judge"]


async def test_early_promotion_waits_for_the_minimum_exposure(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_judge(earlyPromotion={"minExposure": "3m"}, minCanaryRequests=300))
    sim.observer.counts_script = Traffic(sim, canary_error_rate=0.0, per_look=5000)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    started = passed = None
    for _ in range(30):
        await run_with_looks(rollout, looks_per_tick=5, ticks=1)
        judge = rollout.status.get("judge") or {}
        if started is None and "startedAt" in judge:
            started = sim.clock.now().timestamp()
        if any(m.startswith("Sequential judge passed") for m in rollout.messages):
            passed = sim.clock.now().timestamp()
            break
    assert started is not None
    assert passed is not None
    # The evidence is overwhelming after the first look; only the exposure holds it back.
    assert 3 * 60 <= passed - started <= 4 * 60


async def test_early_promotion_uses_the_tolerance_it_is_given(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    # 2 % errors: within a 5 % promotion floor, never within the default 0.5 % one. The rollback
    # tolerance is widened too, so that only the promotion decides.
    wide = {"relative": 1.0, "absolute": 0.05}
    document = with_judge(
        earlyPromotion={"minExposure": "1m", "errorTolerance": wide},
        errorTolerance={"relative": 30.0, "absolute": 0.05},
        minCanaryRequests=300,
    )
    rollout = make_rollout(document)
    sim.observer.counts_script = Traffic(sim, canary_error_rate=0.02, per_look=5000)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await run_with_looks(rollout, looks_per_tick=5, ticks=30)
    assert any(m.startswith("Sequential judge passed podinfo.test") for m in rollout.messages)
    assert max(rollout.canary_weights) < 50
