"""What the simulated observer answers, and how the blast radius is counted."""

from __future__ import annotations

import pytest

from kanaria.analysis.simulation import (
    SCENARIOS,
    IntervalTraffic,
    TrafficSimulator,
    VersionInterval,
)
from kanaria.engine.ports import Routes
from kanaria.errors import ConfigError
from kanaria.platforms.simulated.scenarios import (
    BAD,
    BASE_ERROR_RATE,
    BENCHMARK_SCENARIOS,
    EXTRA,
    GOOD,
    SWITCH_SECONDS,
    benchmark_scenarios,
    rebased,
)
from kanaria.platforms.simulated.traffic import TrafficRecord, bad_requests, merged
from kanaria.providers.base import NoValuesError
from kanaria.spec.canary import Metric

ROUTES = Routes(90, 10)


def version(requests: int, errors: int, slow: int = 0, fast: int | None = None) -> VersionInterval:
    """`slow` requests in the (500, 1000] bucket, the rest in (25, 50]."""
    buckets = [0] * 14
    buckets[5] = requests - slow if fast is None else fast
    buckets[9] = slow
    rates = (errors / requests,) if requests else ()
    return VersionInterval(requests, errors, tuple(buckets), rates, (40.0,) if requests else ())


def chunk(canary: VersionInterval, primary: VersionInterval | None = None) -> IntervalTraffic:
    return IntervalTraffic(0.1, primary or version(900, 1), canary)


@pytest.mark.parametrize(
    ("requests", "errors", "slow", "bad"),
    [
        (100, 0, 0, 0.0),
        (100, 10, 0, 10.0),
        (100, 0, 7, 7.0),
        (100, 10, 100, 100.0),  # every request slow: the failed ones are not counted twice
        (100, 10, 50, 55.0),  # half of the failed ones are expected to be slow too
        (0, 0, 0, 0.0),
    ],
)
def test_bad_requests_count_failed_or_slow_once(
    requests: int, errors: int, slow: int, bad: float
) -> None:
    assert bad_requests(version(requests, errors, slow)) == pytest.approx(bad)


def test_a_request_of_exactly_500_ms_is_not_too_slow() -> None:
    at_bound = VersionInterval(10, 0, (0,) * 8 + (10,) + (0,) * 5, (0.0,), (500.0,))
    assert bad_requests(at_bound) == 0


def test_windows_cover_the_metric_interval() -> None:
    record = TrafficRecord(chunk_seconds=10)
    for errors in range(6):
        record.add(chunk(version(100, errors)))
    primary, canary = record.window(30)
    assert (canary.requests, canary.errors) == (300, 3 + 4 + 5)
    assert primary.requests == 2700
    success = Metric.model_validate({"name": "request-success-rate", "interval": "1m"})
    assert record.measure(success, ROUTES) == pytest.approx(100 * (600 - 15) / 600)
    assert record.canary_bad == 15


def test_merged_keeps_per_second_samples_in_order() -> None:
    joined = merged([version(10, 1), version(20, 0), version(0, 0)])
    assert joined.requests == 30
    assert joined.error_rate_per_second == (0.1, 0.0)


def test_no_canary_requests_is_no_data_as_prometheus_says() -> None:
    record = TrafficRecord(chunk_seconds=10)
    record.add(chunk(version(0, 0)))
    for name in ("request-success-rate", "request-duration"):
        with pytest.raises(NoValuesError):
            record.measure(Metric.model_validate({"name": name}), ROUTES)


def per_second(requests: int, error_rate: float, latencies: list[float]) -> VersionInterval:
    """Ten seconds with the given per-second error rate and mean latencies."""
    buckets = (0,) * 5 + (requests,) + (0,) * 8
    errors = round(requests * error_rate)
    return VersionInterval(requests, errors, buckets, (error_rate,) * 10, tuple(latencies))


def test_kayenta_score_fails_a_clearly_worse_interval() -> None:
    kayenta = Metric.model_validate({"name": "kayenta-score", "query": "x", "interval": "1m"})
    same, worse = TrafficRecord(chunk_seconds=10), TrafficRecord(chunk_seconds=10)
    for index in range(6):
        latencies = [40.0 + index + second for second in range(10)]
        primary = per_second(900, 0.0, latencies)
        same.add(IntervalTraffic(0.1, primary, per_second(100, 0.0, latencies)))
        worse.add(IntervalTraffic(0.1, primary, per_second(100, 0.5, latencies)))
    assert same.measure(kayenta, ROUTES) == 100
    assert worse.measure(kayenta, ROUTES) < 75


def test_an_unknown_metric_is_a_configuration_error() -> None:
    record = TrafficRecord(chunk_seconds=10)
    record.add(chunk(version(10, 0)))
    with pytest.raises(ConfigError, match="cannot answer"):
        record.measure(Metric.model_validate({"name": "cpu", "query": "x"}), ROUTES)


def test_scenarios_keep_their_difference_on_a_lower_base() -> None:
    moved = rebased(SCENARIOS["errors +2 pp"])
    assert moved.primary.error_rate == pytest.approx(BASE_ERROR_RATE)
    assert moved.canary.error_rate == pytest.approx(BASE_ERROR_RATE + 0.02)
    drift = rebased(SCENARIOS["slow drift"])
    assert drift.canary.drift_per_hour == SCENARIOS["slow drift"].canary.drift_per_hour
    assert set(GOOD) | set(BAD) == set(SCENARIOS) | {scenario.name for scenario in EXTRA}
    assert not any(BENCHMARK_SCENARIOS[name].canary_is_worse for name in GOOD)
    assert all(BENCHMARK_SCENARIOS[name].canary_is_worse for name in BAD)


def test_scenarios_are_chosen_by_name_or_slug() -> None:
    chosen = benchmark_scenarios(["errors-+10-pp", "Low traffic 1 rps"])
    assert [s.name for s in chosen] == ["errors +10 pp", "low traffic 1 rps"]
    with pytest.raises(ConfigError, match="known scenarios: branch-switch, bursty-traffic"):
        benchmark_scenarios(["errors +3 pp"])


def test_the_branch_switch_keeps_the_canary_within_tolerance_at_every_moment() -> None:
    (switch,) = benchmark_scenarios(["branch switch"])
    for seconds in (0, SWITCH_SECONDS - 1, SWITCH_SECONDS, 600):
        primary = switch.primary.error_rate_at(seconds, bursting=False)
        canary = switch.canary.error_rate_at(seconds, bursting=False)
        assert canary <= max(1.2 * primary, 0.001)
    assert switch.primary.error_rate_at(0, bursting=False) == 0.0
    assert switch.canary.error_rate_at(SWITCH_SECONDS, bursting=False) == 0.005


def test_the_diurnal_cycle_moves_traffic_and_errors_of_both_versions() -> None:
    (diurnal,) = benchmark_scenarios(["diurnal"])
    simulator = TrafficSimulator(diurnal, seed=1)
    busy = simulator.run(60, canary_weight=0.5)  # the first quarter of the cycle: rising
    quiet = simulator.run(120, canary_weight=0.5)  # then past the peak, into the trough
    assert busy.primary.requests / 60 > 1.3 * quiet.primary.requests / 120
