"""False alarms over whole simulated releases: at most α, however the judge is looked at and
however the traffic changes.

Each scenario runs seeded releases with random weight schedules (1 % to 90 %, changing at
random) and random look sizes (every request, up to thousands of requests per look), with
Bernoulli errors per request, on the boundary of the null where false alarms are likeliest —
including rates that change between looks: a branch switch, the primary jumping back and forth
between no errors and the canary's own rate, a drift, a daily cycle. The bound checked is α plus
three binomial standard errors of the simulated rate.

Two control judges run through the same harness and must be caught, so the harness itself can
fail: one re-tests the cumulative counts at every look, the other keeps the relative and the
floor evidence apart over the whole release (the judge before issue 14).

The large runs are `montecarlo` (minutes; not in the default run):

    .venv/bin/pytest -m montecarlo tests/unit/analysis

The default run keeps a fast subset of the changing-traffic cases.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable

import pytest

from kanaria.analysis.counts import Counts
from kanaria.analysis.evidence import (
    FAIL_TILTS,
    Look,
    added,
    log_mean_exp,
    worse_floor_log_factors,
    worse_share_log_factors,
)
from kanaria.analysis.sequential import (
    Decision,
    SequentialConfig,
    SequentialJudge,
    Tolerance,
    Verdict,
)

from .releases import (
    Release,
    alternating,
    cycling,
    drifting,
    random_schedule,
    switching,
)

ALPHA = 0.05
montecarlo = [pytest.mark.slow, pytest.mark.montecarlo, pytest.mark.timeout(900)]


def upper_bound(runs: int) -> float:
    return ALPHA + 3.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / runs)


def random_rate(rng: random.Random, low: float = 0.001, high: float = 0.3) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def rate_of(outcome: Callable[[random.Random], bool], runs: int, seed: int) -> float:
    """The share of `runs` seeded releases where `outcome` happened (printed for `pytest -s`)."""
    rng = random.Random(seed)
    rate = sum(outcome(rng) for _ in range(runs)) / runs
    print(f"{_caller()}: {rate:.4f} of {runs} (bound {upper_bound(runs):.4f})")
    return rate


def _caller() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].split("::")[-1]


def judge(relative: float, absolute: float, promotion: Tolerance | None = None) -> SequentialJudge:
    config = SequentialConfig(
        alpha=ALPHA,
        errors=Tolerance(relative, absolute),
        latency_bound_ms=None,
        min_canary_requests=0,
        promotion_errors=promotion or Tolerance(relative, absolute),
    )
    return SequentialJudge(config)


# Releases whose canary is on the boundary of "tolerated" at every look: r ≤ max(1.2·primary, a).
RATIO, FLOOR = 1.2, 0.002


def branch_switch(rng: random.Random) -> Release:
    # The case: a primary without errors and a canary at the floor, then both fail more.
    rate = random_rate(rng, low=0.005)
    return Release(0.0, 0.0, rates_at=switching((0.0, FLOOR), (rate, RATIO * rate)))


def regimes_back_and_forth(rng: random.Random) -> Release:
    # The adversary of a judge that keeps the relative and the floor evidence apart: every other
    # look the floor is what makes the canary tolerated, in between the relative tolerance.
    rate = random_rate(rng, low=0.005)
    return Release(0.0, 0.0, rates_at=alternating((0.0, FLOOR), (rate, RATIO * rate)))


def drift(rng: random.Random) -> Release:
    start = random_rate(rng, high=0.02)
    return Release(0.0, 0.0, rates_at=drifting(start, 10 * start, RATIO))


def daily_cycle(rng: random.Random) -> Release:
    rate = random_rate(rng, high=0.1)
    return Release(0.0, 0.0, rates_at=cycling(rate, 0.9, rng.choice((4, 20, 60)), RATIO))


CHANGING = [branch_switch, regimes_back_and_forth, drift, daily_cycle]


def false_alarm(make: Callable[[random.Random], Release], max_requests: int = 30_000) -> Callable:
    def outcome(rng: random.Random) -> bool:
        release = make(rng)
        schedule = random_schedule(rng, max_requests=max_requests)
        return release.run(judge(RATIO - 1.0, FLOOR), schedule, rng).failed_at is not None

    return outcome


@pytest.mark.parametrize("make", [branch_switch, regimes_back_and_forth], ids=lambda f: f.__name__)
def test_changing_traffic_fails_at_most_alpha_fast(make: Callable[..., Release]) -> None:
    runs = 250
    assert rate_of(false_alarm(make, max_requests=8_000), runs, seed=21) <= upper_bound(runs)


@pytest.mark.parametrize("make", CHANGING, ids=lambda f: f.__name__)
@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_changing_traffic_fails_at_most_alpha(make: Callable[..., Release]) -> None:
    runs = 1000
    assert rate_of(false_alarm(make), runs, seed=22) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_identical_versions_fail_at_most_alpha_without_any_tolerance() -> None:
    def outcome(rng: random.Random) -> bool:
        rate = random_rate(rng)
        release = Release(primary_errors=rate, canary_errors=rate)
        return release.run(judge(0.0, 0.0), random_schedule(rng), rng).failed_at is not None

    runs = 2000
    assert rate_of(outcome, runs, seed=1) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_a_canary_at_the_tolerance_fails_at_most_alpha() -> None:
    def outcome(rng: random.Random) -> bool:
        rate = random_rate(rng, high=0.2)
        release = Release(primary_errors=rate, canary_errors=1.5 * rate)
        return release.run(judge(0.5, 0.0), random_schedule(rng), rng).failed_at is not None

    runs = 1000
    assert rate_of(outcome, runs, seed=2) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_a_primary_without_errors_and_a_canary_at_the_floor_fail_at_most_alpha() -> None:
    # Relative to a primary without errors every canary error is infinitely worse: only the
    # absolute floor stands between this canary and a rollback, and it sits right on it.
    def outcome(rng: random.Random) -> bool:
        floor = random_rate(rng, high=0.05)
        release = Release(primary_errors=0.0, canary_errors=floor)
        return release.run(judge(0.2, floor), random_schedule(rng), rng).failed_at is not None

    runs = 1000
    assert rate_of(outcome, runs, seed=3) <= upper_bound(runs)


def false_pass(make: Callable[[random.Random], Release], promotion: Tolerance) -> Callable:
    def outcome(rng: random.Random) -> bool:
        release = make(rng)
        judged = judge(0.2, 0.001, promotion)
        return release.run(judged, random_schedule(rng), rng).passed_at is not None

    return outcome


def just_beyond_relative(rng: random.Random) -> Release:
    # On the boundary of max(2 × primary, 1 %): twice the primary, or the floor if that is more.
    rate = random_rate(rng, high=0.2)
    return Release(primary_errors=rate, canary_errors=min(1.0, max(2.0 * rate, 0.01)))


def at_the_promotion_floor(rng: random.Random) -> Release:
    return Release(primary_errors=0.0, canary_errors=0.01)


def promotion_boundary_back_and_forth(rng: random.Random) -> Release:
    rate = random_rate(rng, low=0.01, high=0.2)
    return Release(0.0, 0.0, rates_at=alternating((0.0, 0.01), (rate, min(1.0, 2.0 * rate))))


PROMOTION = Tolerance(relative=1.0, absolute=0.01)


def test_a_canary_beyond_the_promotion_tolerance_passes_at_most_alpha_fast() -> None:
    runs = 250
    outcome = false_pass(promotion_boundary_back_and_forth, PROMOTION)
    assert rate_of(outcome, runs, seed=23) <= upper_bound(runs)


@pytest.mark.parametrize(
    "make",
    [just_beyond_relative, at_the_promotion_floor, promotion_boundary_back_and_forth],
    ids=lambda f: f.__name__,
)
@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_a_canary_beyond_the_promotion_tolerance_passes_at_most_alpha(
    make: Callable[..., Release],
) -> None:
    runs = 1000
    assert rate_of(false_pass(make, PROMOTION), runs, seed=4) <= upper_bound(runs)


class RepeatedZTest:
    """The naive judge: a one-sided two-proportion z-test at level α on the counts at each look."""

    def observe(self, primary: Counts, canary: Counts) -> Verdict:
        decision = Decision.FAIL if self._z(primary, canary) > 1.645 else Decision.CONTINUE
        return Verdict(decision, (), "")

    @staticmethod
    def _z(primary: Counts, canary: Counts) -> float:
        if not (primary.requests and canary.requests):
            return 0.0
        pooled = (primary.errors + canary.errors) / (primary.requests + canary.requests)
        spread = pooled * (1 - pooled) * (1 / primary.requests + 1 / canary.requests)
        if spread <= 0.0:
            return 0.0
        difference = canary.errors / canary.requests - primary.errors / primary.requests
        return difference / math.sqrt(spread)


class SeparateEvidence:
    """The judge before issue 14: relative and floor evidence kept apart over the whole release,
    each remembered once it crossed, failing when both have — possibly in different periods."""

    def __init__(self) -> None:
        self.seen = (Counts(0), Counts(0))
        self.share: tuple[float, ...] = (0.0,) * len(FAIL_TILTS)
        self.floor: tuple[float, ...] = (0.0,) * len(FAIL_TILTS)
        self.crossed = {"share": False, "floor": False}

    def observe(self, primary: Counts, canary: Counts) -> Verdict:
        before_primary, before_canary = self.seen
        look = Look(
            canary.requests - before_canary.requests,
            canary.errors - before_canary.errors,
            primary.requests - before_primary.requests,
            primary.errors - before_primary.errors,
        )
        self.seen = (primary, canary)
        self.share = added(self.share, worse_share_log_factors(look, RATIO))
        self.floor = added(self.floor, worse_floor_log_factors(look, RATIO, FLOOR))
        threshold = math.log(1.0 / ALPHA)
        self.crossed["share"] |= log_mean_exp(self.share) >= threshold
        self.crossed["floor"] |= log_mean_exp(self.floor) >= threshold
        failed = all(self.crossed.values())
        return Verdict(Decision.FAIL if failed else Decision.CONTINUE, (), "")


def test_the_harness_catches_a_judge_that_peeks() -> None:
    def outcome(rng: random.Random) -> bool:
        rate = random_rate(rng, low=0.01)
        release = Release(primary_errors=rate, canary_errors=rate)
        peeking = RepeatedZTest()
        return release.run(peeking, random_schedule(rng), rng).failed_at is not None  # type: ignore[arg-type]

    assert rate_of(outcome, 200, seed=5) > 3 * ALPHA


def test_the_harness_catches_a_judge_that_mixes_periods() -> None:
    # The branch switch, with enough traffic on both sides of it.
    rate = 10 * FLOOR
    switch = switching((0.0, FLOOR), (rate, RATIO * rate))

    def outcome(rng: random.Random) -> bool:
        release = Release(0.0, 0.0, rates_at=switch)
        separate = SeparateEvidence()
        return release.run(separate, random_schedule(rng), rng).failed_at is not None  # type: ignore[arg-type]

    assert rate_of(outcome, 100, seed=6) > 3 * ALPHA
