"""How fast the sequential judge sees a worse canary, and when it lets an identical one pass.

The seed's schedule: a look every minute, canary weight 10 → 50 % by 10 points a minute, then
held at 50 %; primary errors 1 %, requests over the latency bound 1 %; the judge's defaults.
`pytest -s -m montecarlo` prints the figures that docs/analysis.md quotes (minutes: not part of
the default run).
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

import pytest

from kanaria.analysis.sequential import SequentialConfig, SequentialJudge

from .releases import Release, Schedule

BASE = 0.01


def seed_schedule(requests_per_second: float, minutes: int) -> Schedule:
    weights = [min(0.1 * (minute + 1), 0.5) for minute in range(minutes)]
    return Schedule(tuple((weight, round(60 * requests_per_second)) for weight in weights))


@dataclass(frozen=True)
class Scenario:
    name: str
    release: Release
    requests_per_second: float = 100.0
    minutes: int = 60


@dataclass(frozen=True)
class Figures:
    detected: float  # share of releases failed (or passed) within the scenario's minutes
    median_canary_requests: float | None
    median_minutes: float | None


def measure(scenario: Scenario, *, want_fail: bool, runs: int = 200, seed: int = 11) -> Figures:
    rng = random.Random(seed)
    schedule = seed_schedule(scenario.requests_per_second, scenario.minutes)
    reached, minutes = [], []
    for _ in range(runs):
        outcome = scenario.release.run(SequentialJudge(SequentialConfig()), schedule, rng)
        at = outcome.failed_at if want_fail else outcome.passed_at
        look = outcome.failed_look if want_fail else outcome.passed_look
        if at is not None and look is not None:
            reached.append(at)
            minutes.append(look)
    if not reached:
        return Figures(0.0, None, None)
    figures = Figures(len(reached) / runs, statistics.median(reached), statistics.median(minutes))
    print(f"{scenario.name:40s} {'fail' if want_fail else 'pass'} {figures}")
    return figures


def errors(canary: float) -> Release:
    return Release(BASE, canary, primary_slow=BASE, canary_slow=BASE)


WORSE = [
    # (scenario, most canary requests the median detection may take)
    (Scenario("errors +0.5 pp (1 % → 1.5 %)", errors(0.015)), 80_000),
    (Scenario("errors +2 pp (1 % → 3 %)", errors(0.03)), 4_000),
    (Scenario("errors +10 pp (1 % → 11 %)", errors(0.11)), 1_000),
    (Scenario("errors +10 pp at 1 rps", errors(0.11), 1.0, 120), 400),
    (Scenario("slow 1 % → 3 % (a P99 shift)", Release(BASE, BASE, BASE, 0.03)), 5_000),
    (Scenario("slow 0 % → 5 % (P99 past the bound)", Release(BASE, BASE, 0.0, 0.05)), 2_000),
]


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("scenario", "most_requests"), WORSE, ids=[s.name for s, _ in WORSE])
def test_a_worse_canary_is_caught(scenario: Scenario, most_requests: int) -> None:
    figures = measure(scenario, want_fail=True)
    assert figures.detected >= 0.95
    assert figures.median_canary_requests is not None
    assert figures.median_canary_requests <= most_requests


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_an_identical_canary_passes_after_enough_traffic() -> None:
    identical = Scenario("identical (1 % errors, 1 % slow)", errors(BASE), minutes=180)
    figures = measure(identical, want_fail=False, runs=100)
    assert figures.detected >= 0.9
    # And never fails on the way: it is the same version.
    assert measure(identical, want_fail=True, runs=100).detected == 0.0


@pytest.mark.slow
@pytest.mark.montecarlo
@pytest.mark.timeout(900)
def test_an_identical_canary_without_errors_passes_on_the_floor_alone() -> None:
    clean = Scenario("identical, no errors, 0.5 % slow", Release(0.0, 0.0, 0.005, 0.005), 10.0)
    figures = measure(clean, want_fail=False)
    assert figures.detected >= 0.95
