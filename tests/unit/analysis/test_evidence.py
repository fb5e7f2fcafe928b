"""The e-values' one promise: under the null, each look multiplies them by at most one on average.

That promise, for every split of requests and every null rate, is what makes the judge valid
however the weights change and however often it looks; here it is checked exactly, by summing
over every outcome of one interval, on intervals that hypothesis picks.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kanaria.analysis.evidence import (
    SHARE_TILTS,
    RateEvidence,
    ShareSums,
    bennett_cumulant,
    log_mean_exp,
    log_share_evidence,
    null_share,
)


def binomial_pmf(trials: int, rate: float) -> list[float]:
    return [
        math.comb(trials, k) * rate**k * (1.0 - rate) ** (trials - k) for k in range(trials + 1)
    ]


def expected_share_factor(
    requests: tuple[int, int], rates: tuple[float, float], ratio: float, tilt: float
) -> float:
    """E[exp(tilt·(x − m·p) − ψ(|tilt|)·m·p·(1 − p))] over both versions' binomial event counts.

    `requests` and `rates` are (canary, primary).
    """
    (canary_requests, primary_requests), (canary_rate, primary_rate) = requests, rates
    share = null_share(canary_requests, primary_requests, ratio)
    cumulant = bennett_cumulant(abs(tilt))
    total = 0.0
    for x, px in enumerate(binomial_pmf(canary_requests, canary_rate)):
        for y, py in enumerate(binomial_pmf(primary_requests, primary_rate)):
            events = x + y
            exponent = tilt * (x - events * share) - cumulant * events * share * (1.0 - share)
            if px * py > 0.0:
                total += px * py * math.exp(exponent)
    return total


intervals = st.tuples(st.integers(1, 40), st.integers(0, 40))
ratios = st.floats(1.0, 2.0)
tilts = st.sampled_from(SHARE_TILTS)


@settings(max_examples=300, deadline=None)
@given(intervals, st.floats(0.0, 0.45), ratios, st.floats(0.0, 1.0), tilts)
def test_worse_factor_has_expectation_at_most_one_under_the_null(
    requests: tuple[int, int], primary_rate: float, ratio: float, closeness: float, tilt: float
) -> None:
    # Null of the "worse" test: canary rate at most ratio × primary rate; `closeness` = 1 is its
    # boundary, where the factor is hardest to keep below one.
    canary_rate = closeness * ratio * primary_rate
    expected = expected_share_factor(requests, (canary_rate, primary_rate), ratio, tilt)
    assert expected <= 1.0 + 1e-9


@settings(max_examples=300, deadline=None)
@given(intervals, st.floats(0.0, 0.24), ratios, st.floats(1.0, 2.0), tilts)
def test_not_worse_factor_has_expectation_at_most_one_under_the_null(
    requests: tuple[int, int], primary_rate: float, ratio: float, excess: float, tilt: float
) -> None:
    # Null of the "not worse" test: canary rate at least ratio × primary rate (at most 0.96 here).
    canary_rate = excess * ratio * primary_rate
    expected = expected_share_factor(requests, (canary_rate, primary_rate), ratio, -tilt)
    assert expected <= 1.0 + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.floats(0.001, 0.5), st.floats(0.0, 1.0), st.booleans())
def test_rate_evidence_has_expectation_at_most_one_under_the_null(
    trials: int, bound: float, closeness: float, above: bool
) -> None:
    evidence = RateEvidence(bound, above=above)
    # Any true rate on the null side: at most the bound for "above", at least it for "below".
    rate = closeness * bound if above else bound + closeness * (1.0 - bound)
    # Summed in log space: a huge e-value of a vanishingly unlikely outcome must not overflow.
    expected = sum(
        math.exp(math.log(probability) + evidence.log_evidence(events, trials))
        for events, probability in enumerate(binomial_pmf(trials, rate))
        if probability > 0.0
    )
    assert expected <= 1.0 + 1e-9


def test_share_evidence_grows_when_the_canary_takes_more_than_its_share() -> None:
    share = null_share(100, 900, 1.0)
    sums = ShareSums()
    for _ in range(20):
        sums = sums.add(canary_events=5, total_events=10, share=share)
    assert math.exp(log_share_evidence(sums, canary_worse=True)) > 1e6
    assert math.exp(log_share_evidence(sums, canary_worse=False)) < 0.01


def test_share_evidence_without_events_is_one() -> None:
    assert log_share_evidence(ShareSums(), canary_worse=True) == 0.0
    assert log_share_evidence(ShareSums(), canary_worse=False) == 0.0


def test_null_share_tilts_the_request_share_by_the_ratio() -> None:
    assert null_share(100, 900, 1.0) == 0.1
    assert math.isclose(null_share(100, 900, 2.0), 200 / 1100)


def test_log_mean_exp_survives_numbers_beyond_a_float() -> None:
    assert math.isclose(log_mean_exp([1000.0, 1000.0]), 1000.0)
    assert math.isclose(log_mean_exp([0.0, math.log(3.0)]), math.log(2.0))
    assert log_mean_exp([-math.inf, -math.inf]) == -math.inf


def test_rate_evidence_with_a_zero_bound_is_certain_at_the_first_event() -> None:
    assert RateEvidence(0.0, above=True).log_evidence(1, 10) == math.inf
    assert RateEvidence(0.0, above=True).log_evidence(0, 10) == 0.0
    assert RateEvidence(0.0, above=False).log_evidence(0, 10) == 0.0


def test_rate_evidence_below_the_bound_needs_about_log_one_over_alpha_over_bound_requests() -> None:
    # "Rule of three": 0 events in n requests shows a rate below b once n·b ≈ log(1/α).
    below = RateEvidence(0.001, above=False)
    assert math.exp(below.log_evidence(0, 2_000)) < 100.0
    assert math.exp(below.log_evidence(0, 10_000)) > 100.0
