"""The e-values' one promise: under the null, each look multiplies them by at most one on average.

That promise, for every split of one look's requests and every rate on the null side, is what
makes the judge valid however the weights and the primary's own rate change from look to look;
here it is checked exactly, by summing over every outcome of one look, on looks that hypothesis
picks, with Bernoulli requests (the Poisson case is the limit).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from kanaria.analysis.evidence import (
    FAIL_TILTS,
    PASS_TILTS,
    Look,
    better_floor_log_factors,
    better_share_log_factors,
    log_mean_exp,
    null_share,
    worse_log_factors,
)

Factors = Callable[[Look], tuple[float, ...]]


def binomial_pmf(trials: int, rate: float) -> list[float]:
    return [
        math.comb(trials, k) * rate**k * (1.0 - rate) ** (trials - k) for k in range(trials + 1)
    ]


def convolved(*pmfs: list[float]) -> list[float]:
    """The distribution of a sum of independent counts."""
    total = [1.0]
    for pmf in pmfs:
        out = [0.0] * (len(total) + len(pmf) - 1)
        for i, p in enumerate(total):
            for j, q in enumerate(pmf):
                out[i + j] += p * q
        total = out
    return total


def expected_factors(
    canary: list[float], primary: list[float], requests: tuple[int, int], factors: Factors
) -> list[float]:
    """E[exp(log factor)] per tilt, over the canary's and the primary's event counts."""
    canary_requests, primary_requests = requests
    sums = [0.0] * len(factors(Look(canary_requests, 0, primary_requests, 0)))
    for x, px in enumerate(canary):
        for y, py in enumerate(primary):
            if px * py == 0.0:
                continue
            look = Look(canary_requests, x, primary_requests, y)
            for index, log_factor in enumerate(factors(look)):
                sums[index] += math.exp(math.log(px * py) + log_factor)
    return sums


def expected(
    requests: tuple[int, int], rates: tuple[float, float], factors: Factors
) -> list[float]:
    (canary_requests, primary_requests), (canary_rate, primary_rate) = requests, rates
    return expected_factors(
        binomial_pmf(canary_requests, canary_rate),
        binomial_pmf(primary_requests, primary_rate),
        requests,
        factors,
    )


looks = st.tuples(st.integers(0, 30), st.integers(0, 30))
ratios = st.floats(1.0, 2.5)
floors = st.floats(0.0, 0.2)
fractions = st.floats(0.0, 1.0)
TOLERANCE = 1e-9


@settings(max_examples=100, deadline=None)
@given(looks, st.floats(0.0, 0.4), ratios, floors, fractions)
def test_worse_factor_is_at_most_one_when_the_canary_is_within_the_relative_tolerance(
    requests: tuple[int, int], primary_rate: float, ratio: float, floor: float, closeness: float
) -> None:
    # `closeness` = 1 is the boundary: the canary exactly `ratio` times the primary.
    canary_rate = min(1.0, closeness * ratio * primary_rate)

    def factors(look: Look) -> tuple[float, ...]:
        return worse_log_factors(look, ratio, floor)

    assert max(expected(requests, (canary_rate, primary_rate), factors)) <= 1.0 + TOLERANCE


@settings(max_examples=100, deadline=None)
@given(looks, st.floats(0.0, 0.4), ratios, floors, fractions)
def test_worse_factor_is_at_most_one_when_the_canary_is_below_the_floor(
    requests: tuple[int, int], primary_rate: float, ratio: float, floor: float, closeness: float
) -> None:
    # Whatever the primary does, even nothing at all: the floor alone makes the canary tolerated.
    canary_rate = closeness * floor

    def factors(look: Look) -> tuple[float, ...]:
        return worse_log_factors(look, ratio, floor)

    assert max(expected(requests, (canary_rate, primary_rate), factors)) <= 1.0 + TOLERANCE


@settings(max_examples=80, deadline=None)
@given(
    st.tuples(st.integers(0, 15), st.integers(0, 15)),
    st.floats(0.0, 0.4),
    st.floats(0.0, 0.4),
    ratios,
    fractions,
)
def test_worse_factor_allows_rates_that_change_within_a_look(
    half: tuple[int, int], early_rate: float, late_rate: float, ratio: float, closeness: float
) -> None:
    # The primary's rate moves half-way through the look, the canary stays within tolerance at
    # every moment, and the split is the same in both halves.
    half_canary, half_primary = half

    def version(requests: int, scale: float) -> list[float]:
        return convolved(
            binomial_pmf(requests, min(1.0, scale * early_rate)),
            binomial_pmf(requests, min(1.0, scale * late_rate)),
        )

    def factors(look: Look) -> tuple[float, ...]:
        return worse_log_factors(look, ratio, 0.0)

    canary, primary = version(half_canary, closeness * ratio), version(half_primary, 1.0)
    requests = (2 * half_canary, 2 * half_primary)
    assert max(expected_factors(canary, primary, requests, factors)) <= 1.0 + TOLERANCE


@settings(max_examples=100, deadline=None)
@given(looks, st.floats(0.0, 0.3), ratios, st.floats(1.0, 3.0))
def test_not_worse_share_factor_is_at_most_one_when_the_canary_is_beyond_the_ratio(
    requests: tuple[int, int], primary_rate: float, ratio: float, excess: float
) -> None:
    canary_rate = min(1.0, excess * ratio * primary_rate)

    def factors(look: Look) -> tuple[float, ...]:
        return better_share_log_factors(look, ratio)

    assert max(expected(requests, (canary_rate, primary_rate), factors)) <= 1.0 + TOLERANCE


@settings(max_examples=100, deadline=None)
@given(looks, st.floats(0.0, 0.4), st.floats(0.001, 0.3), fractions)
def test_not_worse_floor_factor_is_at_most_one_when_the_canary_is_above_the_floor(
    requests: tuple[int, int], primary_rate: float, floor: float, beyond: float
) -> None:
    canary_rate = floor + beyond * (1.0 - floor)

    def factors(look: Look) -> tuple[float, ...]:
        return better_floor_log_factors(look, floor)

    assert max(expected(requests, (canary_rate, primary_rate), factors)) <= 1.0 + TOLERANCE


def test_events_on_the_canary_beyond_its_share_are_evidence_of_worse() -> None:
    look = Look(canary_requests=100, canary_events=5, primary_requests=900, primary_events=5)
    wealth = [0.0] * len(FAIL_TILTS)
    for _ in range(20):
        wealth = [w + f for w, f in zip(wealth, worse_log_factors(look, 1.2, 0.001), strict=True)]
    assert log_mean_exp(wealth) > math.log(1e6)


def test_a_look_without_requests_changes_nothing() -> None:
    empty = Look(0, 0, 0, 0)
    assert set(worse_log_factors(empty, 1.2, 0.001)) == {0.0}
    assert set(better_share_log_factors(empty, 2.0)) == {0.0}
    assert set(better_floor_log_factors(empty, 0.005)) == {0.0}


def test_a_primary_without_errors_cannot_make_canary_errors_below_the_floor_fatal() -> None:
    # 0.05 % of canary requests fail, the primary never does: infinitely worse relatively, but
    # under the 0.1 % floor. Look after look, the "worse" evidence must shrink, not grow.
    look = Look(canary_requests=2_000, canary_events=1, primary_requests=8_000, primary_events=0)
    wealth = [0.0] * len(FAIL_TILTS)
    for _ in range(50):
        wealth = [w + f for w, f in zip(wealth, worse_log_factors(look, 1.2, 0.001), strict=True)]
    assert log_mean_exp(wealth) < 0.0


def test_a_quiet_canary_builds_evidence_of_not_worse_than_the_floor() -> None:
    # The "rule of three": no event in n requests shows a rate below b once n·b ≈ log(1/α).
    look = Look(canary_requests=1_000, canary_events=0, primary_requests=0, primary_events=0)
    wealth = [0.0] * len(PASS_TILTS)
    for looks_done in range(1, 11):
        factors = better_floor_log_factors(look, 0.001)
        wealth = [w + f for w, f in zip(wealth, factors, strict=True)]
        if looks_done == 2:
            assert log_mean_exp(wealth) < math.log(100.0)
    assert log_mean_exp(wealth) > math.log(100.0)


def test_null_share_tilts_the_request_share_by_the_ratio() -> None:
    assert null_share(100, 900, 1.0) == 0.1
    assert math.isclose(null_share(100, 900, 2.0), 200 / 1100)
    assert null_share(0, 0, 1.2) == 0.0


def test_log_mean_exp_survives_numbers_beyond_a_float() -> None:
    assert math.isclose(log_mean_exp([1000.0, 1000.0]), 1000.0)
    assert math.isclose(log_mean_exp([0.0, math.log(3.0)]), math.log(2.0))
    assert log_mean_exp([-math.inf, -math.inf]) == -math.inf
