"""Simulated releases for the judge alone: random weight schedules and look sizes, exact counts.

Each release draws how the weight moves and how many requests pass between two looks (from
every single request to thousands), then Bernoulli errors per request at the versions' rates.
The rates may change from look to look (`Release.rates_at`): a step, a drift, a daily cycle, or
the primary jumping between "no errors at all" and "as many as the canary".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from kanaria.analysis.counts import Counts
from kanaria.analysis.sequential import Decision, SequentialJudge
from kanaria.analysis.simulation import binomial

LOOK_SIZES = (1, 7, 60, 500, 4_000)
STARTING_WEIGHTS = (0.01, 0.05, 0.1, 0.2, 0.5)

# (primary error rate, canary error rate) at a look, given the look's number and the number of
# looks in the release (so a change can be placed half-way).
RatesAt = Callable[[int, int], tuple[float, float]]


@dataclass(frozen=True)
class Schedule:
    """Per look: the canary's weight and the number of requests (both versions) since the last."""

    looks: tuple[tuple[float, int], ...]


def random_schedule(
    rng: random.Random, max_requests: int = 30_000, max_looks: int = 150
) -> Schedule:
    look_size = rng.choice(LOOK_SIZES)
    weight, looks, total = rng.choice(STARTING_WEIGHTS), [], 0
    step = rng.choice((0.0, 0.05, 0.1, 0.2))
    while total < max_requests and len(looks) < max_looks:
        if rng.random() < 0.1:  # a new step of the schedule, up to the 50 % of the seed and beyond
            weight = min(0.9, weight + step)
        requests = max(1, round(look_size * rng.uniform(0.5, 1.5)))
        looks.append((weight, requests))
        total += requests
    return Schedule(tuple(looks))


@dataclass(frozen=True)
class Outcome:
    """Canary requests served when the judge first said fail, and first said pass (or None),
    and the number of looks taken by then."""

    failed_at: int | None
    passed_at: int | None
    failed_look: int | None = None
    passed_look: int | None = None


@dataclass
class Release:
    """One simulated release: the versions' error and slow rates, and the judge's running counts.

    `rates_at`, when given, sets both error rates look by look instead of the constant ones.
    """

    primary_errors: float
    canary_errors: float
    primary_slow: float = 0.0
    canary_slow: float = 0.0
    rates_at: RatesAt | None = None

    def run(self, judge: SequentialJudge, schedule: Schedule, rng: random.Random) -> Outcome:
        """Feed the judge look by look, to the end unless it fails (a pass may not promote)."""
        primary, canary = Counts(0), Counts(0)
        passed_at = passed_look = None
        for look, (weight, requests) in enumerate(schedule.looks, start=1):
            errors = self._errors(look, len(schedule.looks))
            # The split itself is not under test (the judge conditions on it): any rounding does.
            canary_requests = int(requests * weight + rng.random())
            primary = self._served(rng, primary, requests - canary_requests, errors[0], False)
            canary = self._served(rng, canary, canary_requests, errors[1], True)
            decision = judge.observe(primary, canary).decision
            if decision is Decision.PASS and passed_at is None:
                passed_at, passed_look = canary.requests, look
            if decision is Decision.FAIL:
                return Outcome(canary.requests, passed_at, look, passed_look)
        return Outcome(None, passed_at, None, passed_look)

    def _errors(self, look: int, looks: int) -> tuple[float, float]:
        if self.rates_at is None:
            return self.primary_errors, self.canary_errors
        return self.rates_at(look, looks)

    def _served(
        self, rng: random.Random, counts: Counts, requests: int, error_rate: float, canary: bool
    ) -> Counts:
        slow_rate = self.canary_slow if canary else self.primary_slow
        return Counts(
            counts.requests + requests,
            counts.errors + binomial(rng, requests, error_rate),
            counts.slow + binomial(rng, requests, slow_rate),
        )


def switching(before: tuple[float, float], after: tuple[float, float]) -> RatesAt:
    """Rates that change once, half-way through the release."""
    return lambda look, looks: before if 2 * look <= looks else after


def alternating(first: tuple[float, float], second: tuple[float, float]) -> RatesAt:
    """Rates that change at every look, back and forth."""
    return lambda look, looks: first if look % 2 else second


def drifting(start: float, end: float, ratio: float) -> RatesAt:
    """The primary's rate moves from `start` to `end`; the canary stays `ratio` times it."""

    def rates(look: int, looks: int) -> tuple[float, float]:
        primary = start + (end - start) * look / max(1, looks)
        return primary, min(1.0, ratio * primary)

    return rates


def cycling(mean: float, amplitude: float, period_looks: int, ratio: float) -> RatesAt:
    """The primary's rate swings around `mean`; the canary stays `ratio` times it."""

    def rates(look: int, looks: int) -> tuple[float, float]:
        primary = mean * (1.0 + amplitude * math.sin(2.0 * math.pi * look / period_looks))
        return primary, min(1.0, ratio * primary)

    return rates
