"""The traffic simulator counts like Prometheus and keeps the truth it was given."""

from __future__ import annotations

import random

import pytest

from kanaria.analysis.simulation import (
    ISTIO_BUCKETS_MS,
    SCENARIOS,
    TrafficSimulator,
    binomial,
    histogram_quantile,
    poisson,
)


def test_binomial_has_the_right_mean() -> None:
    rng = random.Random(1)
    draws = [binomial(rng, 1_000, 0.3) for _ in range(2_000)]
    assert abs(sum(draws) / len(draws) - 300.0) < 2.0
    assert binomial(rng, 10, 0.0) == 0
    assert binomial(rng, 10, 1.0) == 10


def test_poisson_has_the_right_mean() -> None:
    rng = random.Random(2)
    for mean in (0.5, 8.0, 400.0):
        draws = [poisson(rng, mean) for _ in range(4_000)]
        assert abs(sum(draws) / len(draws) - mean) < 0.05 * mean + 0.05


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # 100 requests all in the (250, 500] bucket: rank 99 sits 99 % of the way up.
        ([0] * 8 + [100] + [0] * 5, 250.0 + 250.0 * 0.99),
        # Rank in +Inf answers the highest finite edge, as Prometheus does.
        ([0] * 13 + [10], 10_000.0),
        ([0] * 14, None),
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(
    counts: list[int], expected: float | None
) -> None:
    assert histogram_quantile(0.99, ISTIO_BUCKETS_MS, counts) == expected


def test_the_weight_splits_the_traffic() -> None:
    simulator = TrafficSimulator(SCENARIOS["identical"], seed=3)
    interval = simulator.run(600, canary_weight=0.2)
    share = interval.canary.requests / (interval.canary.requests + interval.primary.requests)
    assert 0.18 < share < 0.22
    assert len(interval.canary.error_rate_per_second) == 600


def test_a_worse_canary_shows_in_what_flagger_and_the_judges_read() -> None:
    simulator = TrafficSimulator(SCENARIOS["errors +10 pp"], seed=4)
    interval = simulator.run(60, canary_weight=0.5)
    assert interval.canary.success_rate_percent is not None
    assert interval.canary.success_rate_percent < 95.0
    slower = TrafficSimulator(SCENARIOS["P99 +500 ms"], seed=4).run(60, canary_weight=0.5)
    assert slower.canary.p99_ms is not None
    assert slower.canary.p99_ms > 500.0
    assert slower.primary.p99_ms is not None
    assert slower.primary.p99_ms < 500.0


def test_cumulative_counts_add_up_the_intervals_and_count_slow_requests() -> None:
    simulator = TrafficSimulator(SCENARIOS["P99 +100 ms"], seed=5)
    first = simulator.run(30, 0.1)
    second = simulator.run(30, 0.2)
    primary, canary = simulator.cumulative_counts(latency_bound_ms=250.0)
    assert canary.requests == first.canary.requests + second.canary.requests
    assert primary.errors == first.primary.errors + second.primary.errors
    # +100 ms pushes far more than 1 % of the canary past 250 ms; the primary stays near 1 %.
    assert canary.slow / canary.requests > 0.05
    assert primary.slow / primary.requests < 0.02
