"""What one policy's release saw: the simulated traffic, read as Prometheus would read it.

The engine asks its observer for a metric over the metric's window (`interval: 1m` is the last
minute) and for cumulative counts; this record keeps the traffic in short chunks so it can
answer both, and counts the harm the canary did (its blast radius) as the traffic flows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kanaria.analysis.mannwhitney import judge_interval
from kanaria.analysis.simulation import ISTIO_BUCKETS_MS, IntervalTraffic, VersionInterval
from kanaria.analysis.thresholds import DURATION, SUCCESS_RATE
from kanaria.engine.ports import Routes
from kanaria.errors import ConfigError
from kanaria.platforms.simulated.policies import KAYENTA_METRIC
from kanaria.providers.base import NoValuesError
from kanaria.spec.canary import Metric

# "Too slow" for the blast radius: the seed's P99 bound. Requests in buckets above this edge.
TOO_SLOW_MS = 500.0
_TOO_SLOW_FROM = ISTIO_BUCKETS_MS.index(TOO_SLOW_MS) + 1


def bad_requests(version: VersionInterval) -> float:
    """Requests that failed or took longer than 500 ms, each counted once.

    The simulator draws a request's error and its latency independently and reports counts, not
    requests; given the counts, the expected overlap is errors × slow / requests (exact in
    expectation, and it only matters when most requests are slow, as with P99 +500 ms).
    """
    if not version.requests:
        return 0.0
    slow = sum(version.bucket_counts[_TOO_SLOW_FROM:])
    return version.errors + slow - version.errors * slow / version.requests


def merged(versions: list[VersionInterval]) -> VersionInterval:
    """Several consecutive chunks of one version as one window."""
    buckets = [sum(counts) for counts in zip(*(v.bucket_counts for v in versions), strict=True)]
    return VersionInterval(
        requests=sum(v.requests for v in versions),
        errors=sum(v.errors for v in versions),
        bucket_counts=tuple(buckets),
        error_rate_per_second=tuple(r for v in versions for r in v.error_rate_per_second),
        mean_latency_ms_per_second=tuple(m for v in versions for m in v.mean_latency_ms_per_second),
    )


@dataclass
class TrafficRecord:
    """The traffic one release has seen so far, in chunks of `chunk_seconds`."""

    chunk_seconds: int
    chunks: list[IntervalTraffic] = field(default_factory=list)
    canary_requests: int = 0
    canary_bad: float = 0.0

    def add(self, chunk: IntervalTraffic) -> None:
        self.chunks.append(chunk)
        self.canary_requests += chunk.canary.requests
        self.canary_bad += bad_requests(chunk.canary)

    def window(self, seconds: float) -> tuple[VersionInterval, VersionInterval]:
        """(primary, canary) over the last `seconds`, as `rate(...[window])` would cover."""
        count = max(1, math.ceil(seconds / self.chunk_seconds))
        recent = self.chunks[-count:]
        if not recent:
            raise NoValuesError("no traffic yet")
        return merged([c.primary for c in recent]), merged([c.canary for c in recent])

    def measure(self, metric: Metric, routes: Routes) -> float:
        """The value the metric's query would return now (`ScriptedObserver.script`)."""
        primary, canary = self.window(metric.interval_seconds)
        if metric.name == SUCCESS_RATE:
            return _present(canary.success_rate_percent, metric)
        if metric.name == DURATION:
            return _present(canary.p99_ms, metric)
        if metric.name == KAYENTA_METRIC:
            return kayenta_score(primary, canary)
        raise ConfigError(f"the simulated observer cannot answer metric {metric.name!r}")


def kayenta_score(primary: VersionInterval, canary: VersionInterval) -> float:
    """Kayenta's interval score: error rate and mean latency per second, canary vs primary."""
    samples = {
        "errors": (canary.error_rate_per_second, primary.error_rate_per_second),
        "latency": (canary.mean_latency_ms_per_second, primary.mean_latency_ms_per_second),
    }
    return judge_interval(samples).score


def _present(value: float | None, metric: Metric) -> float:
    # Prometheus answers no sample (or NaN) when the canary served nothing in the window.
    if value is None:
        raise NoValuesError(f"{metric.name}: the canary served no requests in the window")
    return value
