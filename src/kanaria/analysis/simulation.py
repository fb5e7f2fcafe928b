"""Simulated traffic for judging the judges: counts as Prometheus would report them.

A judge is only as good as its false alarms and its delays on traffic whose truth is known, and
no real cluster can be told "this canary is exactly 2 points worse". Pure Python and seeded, so
the tests and the benchmark get the same numbers on every machine.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kanaria.analysis.counts import Counts


def binomial(rng: random.Random, trials: int, probability: float) -> int:
    """An exact binomial draw in time proportional to the number of successes.

    Skips from one success to the next by geometric gaps, which keeps a million requests at a
    1 % error rate cheap (Python 3.11's `random` has no binomial).
    """
    if trials <= 0 or probability <= 0.0:
        return 0
    if probability >= 1.0:
        return trials
    if probability > 0.5:
        return trials - binomial(rng, trials, 1.0 - probability)
    log_miss = math.log1p(-probability)
    successes, position = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_miss) + 1
        if position > trials:
            return successes
        successes += 1


def large_binomial(rng: random.Random, trials: int, probability: float) -> int:
    """A binomial draw that is exact while small and normal once its variance passes 100.

    For what only needs the right distribution in bulk (how many requests the canary gets, how
    many fall in the histogram's middle buckets): it keeps a thousand requests a second as cheap
    as ten. Counts the judges test (errors, the slow tail) use the exact `binomial`.
    """
    variance = trials * probability * (1.0 - probability)
    if variance <= _NORMAL_FROM_VARIANCE:
        return binomial(rng, trials, probability)
    draw = round(rng.gauss(trials * probability, math.sqrt(variance)))
    return min(trials, max(0, draw))


_NORMAL_FROM_VARIANCE = 100.0


# Istio's default buckets for istio_request_duration_milliseconds, the edges Prometheus sees.
ISTIO_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: exact by multiplication for small means, normal beyond (arrivals only)."""
    if mean <= 0.0:
        return 0
    if mean > 50.0:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class Burst:
    """Errors that come in bursts: each second starts one with `chance`, lasting `seconds`."""

    chance: float
    seconds: float
    error_rate: float


@dataclass(frozen=True)
class Switch:
    """From `at_seconds` into the release on, the version's error rate is `error_rate`."""

    at_seconds: float
    error_rate: float


@dataclass(frozen=True)
class Behaviour:
    """How one version answers: its error rate and its log-normal latency.

    `latency_median_ms` and `latency_sigma` shape the log-normal; `latency_shift_ms` adds a
    constant (a slower code path); `drift_per_hour` raises the error rate as the release ages;
    `switch` changes it at one moment (a dependency that starts failing, a branch switch).
    """

    error_rate: float = 0.01
    latency_median_ms: float = 60.0
    latency_sigma: float = 0.6
    latency_shift_ms: float = 0.0
    drift_per_hour: float = 0.0
    burst: Burst | None = None
    switch: Switch | None = None

    def error_rate_at(self, seconds: float, bursting: bool) -> float:
        if bursting and self.burst is not None:
            return self.burst.error_rate
        base = self.error_rate
        if self.switch is not None and seconds >= self.switch.at_seconds:
            base = self.switch.error_rate
        return min(1.0, base + self.drift_per_hour * seconds / 3600.0)

    def latency_ms(self, rng: random.Random) -> float:
        median = math.log(self.latency_median_ms)
        return rng.lognormvariate(median, self.latency_sigma) + self.latency_shift_ms

    def mean_latency_ms(self) -> float:
        return self.latency_median_ms * math.exp(self.latency_sigma**2 / 2) + self.latency_shift_ms

    def latency_spread_ms(self) -> float:
        """Standard deviation of one request's latency."""
        sigma2 = self.latency_sigma**2
        return self.latency_median_ms * math.sqrt(math.expm1(sigma2) * math.exp(sigma2))

    def bucket_chances(self) -> tuple[float, ...]:
        """Chance of one request landing in each Istio bucket (the last is +Inf)."""
        return _bucket_chances(self.latency_median_ms, self.latency_sigma, self.latency_shift_ms)


@functools.cache
def _bucket_chances(median_ms: float, sigma: float, shift_ms: float) -> tuple[float, ...]:
    def below(edge: float) -> float:
        if edge <= shift_ms:
            return 0.0
        z = (math.log(edge - shift_ms) - math.log(median_ms)) / sigma
        return 0.5 * math.erfc(-z / math.sqrt(2.0))

    cumulative = [below(edge) for edge in ISTIO_BUCKETS_MS] + [1.0]
    return tuple(high - low for low, high in zip([0.0, *cumulative[:-1]], cumulative, strict=True))


@dataclass(frozen=True)
class Cycle:
    """A daily cycle, compressed: traffic and both versions' error rates swing together.

    Each is multiplied by 1 + amplitude · sin(2π · t / period_seconds).
    """

    period_seconds: float
    traffic_amplitude: float
    error_amplitude: float

    def factors(self, seconds: float) -> tuple[float, float]:
        phase = math.sin(2.0 * math.pi * seconds / self.period_seconds)
        return 1.0 + self.traffic_amplitude * phase, 1.0 + self.error_amplitude * phase


@dataclass(frozen=True)
class Scenario:
    """A release whose truth is known: traffic, and how primary and canary behave.

    `noise_sigma` makes both versions' error rates wander together from second to second (a
    log-normal factor shared by both, like a flaky dependency); `traffic_burst` multiplies the
    arrival rate during one second in ten by that factor (bursty clients); `cycle` makes traffic
    and error rates swing with the time of day.
    """

    name: str
    requests_per_second: float = 100.0
    primary: Behaviour = field(default_factory=Behaviour)
    canary: Behaviour = field(default_factory=Behaviour)
    noise_sigma: float = 0.0
    traffic_burst: float = 1.0
    canary_is_worse: bool = False
    cycle: Cycle | None = None


def _worse(name: str, **canary: Any) -> Scenario:
    return Scenario(name, canary=Behaviour(**canary), canary_is_worse=True)


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("identical"),
        Scenario("noisy", noise_sigma=0.8),
        Scenario("bursty traffic", traffic_burst=8.0),
        Scenario("low traffic 1 rps", requests_per_second=1.0),
        _worse("errors +0.5 pp", error_rate=0.015),
        _worse("errors +2 pp", error_rate=0.03),
        _worse("errors +10 pp", error_rate=0.11),
        _worse("P99 +100 ms", latency_shift_ms=100.0),
        _worse("P99 +500 ms", latency_shift_ms=500.0),
        _worse("intermittent error bursts", burst=Burst(chance=0.01, seconds=10, error_rate=0.5)),
        _worse("slow drift", drift_per_hour=0.05),
    )
}


def histogram_quantile(
    quantile: float, edges: Sequence[float], counts: Sequence[int]
) -> float | None:
    """Prometheus' `histogram_quantile` on one histogram: linear within the bucket of the rank.

    `counts` are per bucket (not cumulative), one more than `edges` for the +Inf bucket. Like
    Prometheus, a rank in +Inf answers the highest finite edge, and no requests answer nothing.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank, below = quantile * total, 0
    for index, count in enumerate(counts[: len(edges)]):
        if count and below + count >= rank:
            lower = edges[index - 1] if index else 0.0
            return lower + (edges[index] - lower) * (rank - below) / count
        below += count
    return edges[-1]


@dataclass(frozen=True)
class VersionInterval:
    """One version's traffic over one interval, as Prometheus and a per-second scraper see it."""

    requests: int
    errors: int
    bucket_counts: tuple[int, ...]  # per Istio bucket, the last one +Inf; not cumulative
    error_rate_per_second: tuple[float, ...]  # seconds without requests left out
    mean_latency_ms_per_second: tuple[float, ...]

    @property
    def success_rate_percent(self) -> float | None:
        """Flagger's `request-success-rate`: none without requests, which Flagger fails."""
        return 100.0 * (self.requests - self.errors) / self.requests if self.requests else None

    @property
    def p99_ms(self) -> float | None:
        """Flagger's `request-duration`: P99 from the buckets, as `histogram_quantile` says."""
        return histogram_quantile(0.99, ISTIO_BUCKETS_MS, self.bucket_counts)


@dataclass(frozen=True)
class IntervalTraffic:
    canary_weight: float
    primary: VersionInterval
    canary: VersionInterval


@dataclass
class _Tally:
    """Running counts of one version while an interval is simulated."""

    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(ISTIO_BUCKETS_MS) + 1))
    error_rates: list[float] = field(default_factory=list)
    mean_latencies: list[float] = field(default_factory=list)

    def frozen(self) -> VersionInterval:
        return VersionInterval(
            self.requests,
            self.errors,
            tuple(self.buckets),
            tuple(self.error_rates),
            tuple(self.mean_latencies),
        )


class TrafficSimulator:
    """Second-by-second traffic of one release, split by the weight the caller sets.

    Poisson arrivals at the scenario's rate, each request routed to the canary with the current
    weight, failing with its version's error rate and taking a log-normal latency. Seeded, so a
    benchmark can give every judge the very same traffic.
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.elapsed_seconds = 0
        self._burst_left = {"primary": 0.0, "canary": 0.0}
        self._totals = {"primary": _Tally(), "canary": _Tally()}

    def run(self, seconds: int, canary_weight: float) -> IntervalTraffic:
        """Simulate `seconds` of traffic at `canary_weight` (0 to 1) and count it."""
        tallies = {"primary": _Tally(), "canary": _Tally()}
        for _ in range(seconds):
            self._one_second(canary_weight, tallies)
        return IntervalTraffic(
            canary_weight, tallies["primary"].frozen(), tallies["canary"].frozen()
        )

    def cumulative_counts(self, latency_bound_ms: float) -> tuple[Counts, Counts]:
        """(primary, canary) counts since the start, for the sequential judge."""
        slow_from = bisect.bisect_left(ISTIO_BUCKETS_MS, latency_bound_ms) + 1
        primary, canary = (
            Counts(tally.requests, tally.errors, sum(tally.buckets[slow_from:]))
            for tally in (self._totals["primary"], self._totals["canary"])
        )
        return primary, canary

    def _one_second(self, canary_weight: float, tallies: dict[str, _Tally]) -> None:
        scenario, rng = self.scenario, self.rng
        rate = scenario.requests_per_second
        if scenario.traffic_burst != 1.0 and rng.random() < 0.1:
            rate *= scenario.traffic_burst
        # One factor for both versions: a shared cause moves their error rates together.
        noise = rng.lognormvariate(0.0, scenario.noise_sigma) if scenario.noise_sigma else 1.0
        if scenario.cycle is not None:
            traffic_factor, error_factor = scenario.cycle.factors(self.elapsed_seconds)
            rate *= traffic_factor
            noise *= error_factor
        arrivals = poisson(rng, rate)
        canary_requests = large_binomial(rng, arrivals, canary_weight)
        for version, requests in (
            ("primary", arrivals - canary_requests),
            ("canary", canary_requests),
        ):
            self._serve(version, requests, noise, tallies[version])
        self.elapsed_seconds += 1

    def _serve(self, version: str, requests: int, noise: float, tally: _Tally) -> None:
        behaviour = self.scenario.canary if version == "canary" else self.scenario.primary
        error_rate = min(
            1.0,
            noise
            * behaviour.error_rate_at(self.elapsed_seconds, self._bursting(version, behaviour)),
        )
        errors = binomial(self.rng, requests, error_rate)
        buckets, mean_latency = self._latencies(behaviour, requests)
        for target in (tally, self._totals[version]):
            target.requests += requests
            target.errors += errors
            for index, count in enumerate(buckets):
                target.buckets[index] += count
        if requests:
            tally.error_rates.append(errors / requests)
            tally.mean_latencies.append(mean_latency)

    def _latencies(self, behaviour: Behaviour, requests: int) -> tuple[list[int], float]:
        """Bucket counts and mean latency of one second's requests.

        Request by request up to a few dozen; beyond, bucket by bucket (the tail exactly) and a
        normal mean, which is what the mean of that many log-normal latencies is.
        """
        if requests <= _ONE_BY_ONE_UP_TO:
            latencies = [behaviour.latency_ms(self.rng) for _ in range(requests)]
            buckets = [0] * (len(ISTIO_BUCKETS_MS) + 1)
            for latency in latencies:
                buckets[bisect.bisect_left(ISTIO_BUCKETS_MS, latency)] += 1
            return buckets, sum(latencies) / requests if requests else 0.0
        buckets = self._bucket_counts(behaviour.bucket_chances(), requests)
        spread = behaviour.latency_spread_ms() / math.sqrt(requests)
        return buckets, self.rng.gauss(behaviour.mean_latency_ms(), spread)

    def _bucket_counts(self, chances: tuple[float, ...], requests: int) -> list[int]:
        # From the slowest bucket down, each a binomial of what is left: the rare slow buckets
        # are drawn exactly, the crowded fast ones in bulk.
        counts = [0] * len(chances)
        left, mass = requests, 1.0
        for index in range(len(chances) - 1, -1, -1):
            if left == 0 or mass <= 0.0:
                break
            share = min(1.0, chances[index] / mass) if index else 1.0
            counts[index] = large_binomial(self.rng, left, share)
            left -= counts[index]
            mass -= chances[index]
        return counts

    def _bursting(self, version: str, behaviour: Behaviour) -> bool:
        burst = behaviour.burst
        if burst is None:
            return False
        if self._burst_left[version] <= 0.0 and self.rng.random() < burst.chance:
            self._burst_left[version] = burst.seconds
        self._burst_left[version] -= 1.0
        return self._burst_left[version] >= 0.0


# Below this many requests in a second, latencies are drawn one by one (Kayenta's per-second
# mean of a handful of requests is far from normal).
_ONE_BY_ONE_UP_TO = 40
