"""The real engine decides simulated releases: every policy, the same traffic."""

from __future__ import annotations

from kanaria.platforms.simulated.policies import POLICIES
from kanaria.platforms.simulated.release import Outcome, run_release
from kanaria.platforms.simulated.scenarios import benchmark_scenarios


async def test_a_canary_ten_points_worse_is_rolled_back_by_every_policy() -> None:
    (scenario,) = benchmark_scenarios(["errors +10 pp"])
    for seed in range(3):
        results = {r.policy: r for r in await run_release(scenario, seed, POLICIES)}
        assert {r.outcome for r in results.values()} == {Outcome.ROLLED_BACK}
        # Flagger waits for 5 failed intervals and rolls back at the next tick.
        assert results["flagger"].decided_by == "checks"
        assert results["flagger"].seconds == 7 * 60
        # The judge acts at a look, seconds after the canary gets traffic at 1m.
        assert results["sequential"].decided_by == "judge"
        assert results["sequential"].seconds is not None
        assert results["sequential"].seconds < 2 * 60
        assert results["sequential"].blast_radius < results["flagger"].blast_radius / 5


async def test_an_identical_canary_is_promoted_by_every_policy() -> None:
    (scenario,) = benchmark_scenarios(["identical"])
    for seed in range(3):
        results = await run_release(scenario, seed, POLICIES)
        assert {r.outcome for r in results} == {Outcome.PROMOTED}
        # 10, 20, 30, 40, 50 % one minute each after the first tick, then promotion.
        assert {r.seconds for r in results if r.policy != "sequential-early"} == {6 * 60}
        assert all(r.canary_requests > 5_000 for r in results)


async def test_sharing_the_traffic_changes_nothing() -> None:
    """Policies run together see exactly the traffic each would see alone."""
    (scenario,) = benchmark_scenarios(["intermittent error bursts"])
    together = await run_release(scenario, 4, POLICIES)
    alone = [(await run_release(scenario, 4, (policy,)))[0] for policy in POLICIES]
    assert together == alone
    assert len({r.seconds for r in together}) > 1  # the policies did part ways


async def test_the_same_seed_gives_the_same_release() -> None:
    (scenario,) = benchmark_scenarios(["noisy"])
    assert await run_release(scenario, 9, POLICIES) == await run_release(scenario, 9, POLICIES)
