"""Weights, blue/green and A/B testing, and the weight schedule's invariants."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.engine.strategies import next_step_weight
from kanaria.spec.canary import Analysis
from tests.unit.engine.conftest import Rollout, seed_canary


async def start(rollout: Rollout) -> None:
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")


async def test_weight_never_overshoots_max_weight(make_rollout: Callable[..., Rollout]) -> None:
    rollout = make_rollout(stepWeight=20, maxWeight=50)
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert rollout.canary_weights == [20, 40, 50, 0]


async def test_step_weights_ladder(make_rollout: Callable[..., Rollout]) -> None:
    rollout = make_rollout(stepWeight=None, stepWeights=[1, 5, 25, 80])
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert rollout.canary_weights == [1, 5, 25, 80, 0]


async def test_gradual_promotion(make_rollout: Callable[..., Rollout]) -> None:
    rollout = make_rollout(stepWeightPromotion=30)
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert rollout.canary_weights == [10, 20, 30, 40, 50, 20, 0]
    assert "Advance podinfo.test primary weight 80" in rollout.messages
    assert "Advance podinfo.test primary weight 100" in rollout.messages


async def test_mirroring_before_the_first_step(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(mirror=True)
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    mirrored = [(r.canary_weight, r.mirrored) for r in sim.router.history]
    assert mirrored[:2] == [(0, True), (10, False)]


async def test_blue_green(sim: SimulatedWorld, make_rollout: Callable[..., Rollout]) -> None:
    rollout = make_rollout(stepWeight=None, maxWeight=None, iterations=3)
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    advances = [m for m in rollout.messages if m.startswith("Advance")]
    assert advances == [f"Advance podinfo.test canary iteration {n}/3" for n in (1, 2, 3)]
    assert "Routing all traffic to canary" in rollout.messages
    assert rollout.canary_weights == [100, 0]


async def test_ab_testing_routes_matching_requests(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    match = [{"headers": {"x-canary": {"exact": "insider"}}}]
    rollout = make_rollout(stepWeight=None, maxWeight=None, iterations=2, match=match)
    await start(rollout)
    await rollout.until(lambda: rollout.phase == "Succeeded")
    advances = [m for m in rollout.messages if m.startswith("Advance")]
    assert advances == [
        "Advance podinfo.test canary iteration 1/2",
        "Advance podinfo.test canary iteration 2/2",
    ]
    assert sim.router.history[0].canary_weight == 100
    assert sim.router.history[-1].canary_weight == 0


@given(
    step=st.integers(min_value=1, max_value=100),
    max_weight=st.integers(min_value=1, max_value=100),
)
def test_linear_schedule_stays_in_bounds(step: int, max_weight: int) -> None:
    analysis = Analysis(stepWeight=step, maxWeight=max_weight)
    weight, seen = 0, []
    while (step_now := next_step_weight(analysis, weight)) > 0:
        weight += step_now
        seen.append(weight)
    assert seen, "at least one step"
    assert seen == sorted(set(seen))
    assert all(0 < w <= max_weight for w in seen)
    assert seen[-1] == max_weight


@given(steps=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=8, unique=True))
def test_step_weights_schedule_follows_the_ladder(steps: list[int]) -> None:
    ladder = sorted(steps)
    analysis = Analysis(stepWeights=ladder)
    weight, seen = 0, []
    while (step_now := next_step_weight(analysis, weight)) > 0:
        weight += step_now
        seen.append(weight)
    assert seen == ladder


@settings(max_examples=40, deadline=None)
@given(
    step=st.integers(min_value=1, max_value=60),
    max_weight=st.integers(min_value=1, max_value=100),
    failures=st.lists(st.booleans(), max_size=30),
)
async def test_release_weights_are_valid_whatever_the_checks_say(
    step: int, max_weight: int, failures: list[bool]
) -> None:
    sim = simulated_world()
    document = seed_canary()
    document["spec"]["analysis"].update(stepWeight=step, maxWeight=max_weight)
    rollout = Rollout(sim, document)
    verdicts = iter(failures)
    sim.observer.script = lambda metric, routes: 50.0 if next(verdicts, False) else 100.0
    await start(rollout)
    await rollout.until(lambda: rollout.phase in ("Succeeded", "Failed"), limit=200)
    weights = rollout.canary_weights
    assert all(0 <= w <= max_weight for w in weights)
    assert all(r.primary_weight + r.canary_weight == 100 for r in sim.router.history)
    assert weights[-1] == 0
    growing = weights[:-1]
    assert growing == sorted(growing), "weight never decreases before promotion or rollback"
