"""The test exporter's arithmetic, on a fake clock: other suites trust its numbers.

Serving over HTTP is covered by the integration tests, where a real Prometheus scrapes it.
"""

from __future__ import annotations

import re

import pytest

from tests.support.istio_exporter import ISTIO_BUCKETS_MS, IstioExporter, histogram_quantile


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def series(text: str) -> dict[str, float]:
    """Exposition lines as {name{labels}: value}."""
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def value(text: str, name: str, **labels: str) -> float:
    matching = [
        number
        for key, number in series(text).items()
        if key.split("{")[0] == name
        and all(f'{label}="{wanted}"' in key for label, wanted in labels.items())
    ]
    assert len(matching) == 1, f"{name} {labels}: {matching}"
    return matching[0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exporter(clock: FakeClock) -> IstioExporter:
    return IstioExporter(clock=clock)


def test_counters_grow_at_the_set_rate(exporter: IstioExporter, clock: FakeClock) -> None:
    exporter.set_traffic("podinfo", rps=10, success_rate=0.9)
    clock.now += 10
    text = exporter.render()
    assert value(text, "istio_requests_total", response_code="200") == pytest.approx(90)
    assert value(text, "istio_requests_total", response_code="500") == pytest.approx(10)


def test_a_change_continues_from_the_current_counts(
    exporter: IstioExporter, clock: FakeClock
) -> None:
    exporter.set_traffic("podinfo", rps=10)
    clock.now += 5
    exporter.set_traffic("podinfo", rps=2)
    clock.now += 5
    assert value(exporter.render(), "istio_requests_total") == pytest.approx(60)


def test_failure_series_appear_only_after_failures(
    exporter: IstioExporter, clock: FakeClock
) -> None:
    exporter.set_traffic("podinfo", rps=10)
    clock.now += 1
    assert 'response_code="500"' not in exporter.render()
    exporter.set_traffic("podinfo", rps=10, success_rate=0.5)
    clock.now += 1
    exporter.set_traffic("podinfo", rps=10, success_rate=1.0)
    assert value(exporter.render(), "istio_requests_total", response_code="500") == 5


def test_an_idle_workload_has_flat_success_series(
    exporter: IstioExporter, clock: FakeClock
) -> None:
    exporter.set_traffic("idle", rps=0)
    clock.now += 10
    assert value(exporter.render(), "istio_requests_total", destination_workload="idle") == 0


def test_histogram_buckets_follow_the_latency_profile(
    exporter: IstioExporter, clock: FakeClock
) -> None:
    exporter.set_traffic("podinfo", rps=10, latency_ms={100: 0.9, 700: 0.1})
    clock.now += 10
    text = exporter.render()
    bucket = "istio_request_duration_milliseconds_bucket"
    assert value(text, bucket, le="50") == 0
    assert value(text, bucket, le="100") == pytest.approx(90)
    assert value(text, bucket, le="500") == pytest.approx(90)
    assert value(text, bucket, le="1000") == pytest.approx(100)
    assert value(text, bucket, le="+Inf") == pytest.approx(100)
    assert value(text, "istio_request_duration_milliseconds_count") == pytest.approx(100)
    assert value(text, "istio_request_duration_milliseconds_sum") == pytest.approx(16000)
    assert len(re.findall(r"_bucket\{", text)) == len(ISTIO_BUCKETS_MS) + 1


def test_series_carry_istio_labels(exporter: IstioExporter) -> None:
    exporter.set_traffic("podinfo-primary", namespace="prod", rps=1)
    line = next(
        line for line in exporter.render().splitlines() if line.startswith("istio_requests")
    )
    assert line.startswith(
        'istio_requests_total{reporter="destination",destination_workload="podinfo-primary",'
        'destination_workload_namespace="prod",response_code="200"} '
    )


def test_removed_workloads_disappear(exporter: IstioExporter) -> None:
    exporter.set_traffic("podinfo", rps=1)
    exporter.remove("podinfo")
    assert "podinfo" not in exporter.render()


@pytest.mark.parametrize(
    ("profile", "p99"),
    [
        (300.0, 250 + 250 * 0.99),
        ({100: 0.95, 700: 0.05}, 900.0),
        ({3: 0.5, 20: 0.5}, 10 + 15 * 0.98),
        (40000.0, 30000 + 30000 * 0.99),
    ],
)
def test_reference_quantile_interpolates_like_prometheus(
    profile: float | dict[float, float], p99: float
) -> None:
    assert histogram_quantile(0.99, profile) == pytest.approx(p99)


@pytest.mark.parametrize(
    "traffic",
    [
        {"rps": -1},
        {"rps": 1, "success_rate": 1.5},
        {"rps": 1, "latency_ms": {100: 0.5}},
    ],
)
def test_impossible_traffic_is_refused(exporter: IstioExporter, traffic: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"need|sum to 1"):
        exporter.set_traffic("podinfo", **traffic)  # type: ignore[arg-type]
