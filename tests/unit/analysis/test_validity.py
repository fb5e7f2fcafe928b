"""False alarms over whole simulated releases: at most α, however the judge is looked at.

Each scenario runs seeded releases with random weight schedules (1 % to 90 %, changing at
random) and random look sizes (every request, up to thousands of requests per look), with
Bernoulli errors per request, on the boundary of the null where false alarms are likeliest.
The bound checked is α plus three binomial standard errors of the simulated rate. A naive
judge that re-tests the cumulative counts at every look runs through the same harness and
must be caught, so the harness itself can fail.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from kanaria.analysis.counts import Counts
from kanaria.analysis.sequential import (
    Decision,
    SequentialConfig,
    SequentialJudge,
    Tolerance,
    Verdict,
)

from .releases import Release, random_schedule

ALPHA = 0.05


def upper_bound(runs: int) -> float:
    return ALPHA + 3.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / runs)


def random_rate(rng: random.Random, low: float = 0.001, high: float = 0.3) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def rate_of(outcome: Callable[[random.Random], bool], runs: int, seed: int) -> float:
    rng = random.Random(seed)
    return sum(outcome(rng) for _ in range(runs)) / runs


def judge(relative: float, absolute: float) -> SequentialJudge:
    config = SequentialConfig(
        alpha=ALPHA,
        errors=Tolerance(relative, absolute),
        latency_bound_ms=None,
        min_canary_requests=0,
    )
    return SequentialJudge(config)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_identical_versions_fail_at_most_alpha_without_any_tolerance() -> None:
    def false_alarm(rng: random.Random) -> bool:
        rate = random_rate(rng)
        release = Release(primary_errors=rate, canary_errors=rate)
        return release.run(judge(0.0, 0.0), random_schedule(rng), rng).failed_at is not None

    runs = 2000
    assert rate_of(false_alarm, runs, seed=1) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_canary_at_the_tolerance_fails_at_most_alpha() -> None:
    def false_alarm(rng: random.Random) -> bool:
        rate = random_rate(rng, high=0.2)
        release = Release(primary_errors=rate, canary_errors=1.5 * rate)
        return release.run(judge(0.5, 0.0), random_schedule(rng), rng).failed_at is not None

    runs = 600
    assert rate_of(false_alarm, runs, seed=2) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_primary_without_errors_and_a_canary_at_the_floor_fail_at_most_alpha() -> None:
    # Relative to a primary without errors every canary error is infinitely worse: only the
    # absolute floor stands between this canary and a rollback, and it sits right on it.
    def false_alarm(rng: random.Random) -> bool:
        floor = random_rate(rng, high=0.05)
        release = Release(primary_errors=0.0, canary_errors=floor)
        return release.run(judge(0.2, floor), random_schedule(rng), rng).failed_at is not None

    runs = 600
    assert rate_of(false_alarm, runs, seed=3) <= upper_bound(runs)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_canary_just_beyond_tolerance_passes_at_most_alpha() -> None:
    def false_pass(rng: random.Random) -> bool:
        rate = random_rate(rng, high=0.2)
        release = Release(primary_errors=rate, canary_errors=1.2 * rate)
        return release.run(judge(0.2, 0.0), random_schedule(rng), rng).passed_at is not None

    runs = 600
    assert rate_of(false_pass, runs, seed=4) <= upper_bound(runs)


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


def test_the_harness_catches_a_judge_that_peeks() -> None:
    def false_alarm(rng: random.Random) -> bool:
        rate = random_rate(rng, low=0.01)
        release = Release(primary_errors=rate, canary_errors=rate)
        peeking = RepeatedZTest()
        return release.run(peeking, random_schedule(rng), rng).failed_at is not None  # type: ignore[arg-type]

    assert rate_of(false_alarm, 200, seed=5) > 3 * ALPHA
