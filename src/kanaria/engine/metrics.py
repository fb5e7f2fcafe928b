"""kanaria's own metrics, under Flagger's names and labels (flagger.md §6.1).

Dashboards and alerts written for Flagger (`flagger_canary_status > 1`, weight panels per
workload) keep working when kanaria replaces it, so the names, label names and encodings are
Flagger's. Both platforms use this one `Recorder`; each serves `recorder.registry` on its
`/metrics`. The registry is the recorder's own (not prometheus_client's global one), so several
controllers in one process — tests, peers — never mix their numbers.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from kanaria import __version__
from kanaria.routing.base import Routes
from kanaria.spec.canary import Canary, Phase

# flagger_canary_status: 0 while progressing, 2 once failed, 1 for any other phase
_STATUS_VALUES = {Phase.PROGRESSING: 0, Phase.FAILED: 2}
_DURATION_METRICS = frozenset({"request-duration"})  # measured in ms, exported in seconds


class PrometheusRecorder:
    """The engine's `Recorder` with prometheus-client; read it through `registry`."""

    def __init__(
        self, registry: CollectorRegistry | None = None, mesh_provider: str = "istio"
    ) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        info = Gauge(
            "flagger_info",
            "Flagger version and mesh provider information",
            ["version", "mesh_provider"],
            registry=self.registry,
        )
        info.labels(version=__version__, mesh_provider=mesh_provider).set(1)
        self._total = Gauge(
            "flagger_canary_total",
            "Total number of canary objects",
            ["namespace"],
            registry=self.registry,
        )
        self._status = Gauge(
            "flagger_canary_status",
            "Last canary analysis result",
            ["name", "namespace"],
            registry=self.registry,
        )
        self._weight = Gauge(
            "flagger_canary_weight",
            "The virtual service destination weight current value",
            ["workload", "namespace"],
            registry=self.registry,
        )
        self._analysis = Gauge(
            "flagger_canary_metric_analysis",
            "Last canary analysis result per metric",
            ["name", "namespace", "metric"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "flagger_canary_duration_seconds",
            "Seconds spent performing canary analysis.",
            ["name", "namespace"],
            registry=self.registry,
        )
        self._lag = Histogram(
            "kanaria_tick_lag_seconds",
            "Seconds from when a canary's tick was due to when it started.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        finished = ["name", "namespace", "deployment_strategy", "analysis_status"]
        self._successes = Counter(
            "flagger_canary_successes",
            "Total number of canary successes",
            finished,
            registry=self.registry,
        )
        self._failures = Counter(
            "flagger_canary_failures",
            "Total number of canary failures",
            finished,
            registry=self.registry,
        )

    # Recorder

    def canary_status(self, canary: Canary) -> None:
        value = _STATUS_VALUES.get(Phase(canary.status.phase), 1)
        self._status.labels(**_names(canary)).set(value)

    def canary_weights(self, canary: Canary, routes: Routes) -> None:
        target = canary.spec.target_ref.name
        self._weight.labels(workload=f"{target}-primary", namespace=canary.namespace).set(
            routes.primary_weight
        )
        self._weight.labels(workload=target, namespace=canary.namespace).set(routes.canary_weight)

    def metric_value(self, canary: Canary, metric: str, value: float) -> None:
        exported = value / 1000 if metric in _DURATION_METRICS else value
        self._analysis.labels(**_names(canary), metric=metric).set(exported)

    def release_finished(self, canary: Canary, succeeded: bool, skipped: bool) -> None:
        counter = self._successes if succeeded else self._failures
        counter.labels(
            **_names(canary),
            deployment_strategy=canary.spec.analysis.strategy.value,
            analysis_status="skipped" if skipped else "completed",
        ).inc()

    def tick_duration(self, canary: Canary, seconds: float) -> None:
        self._duration.labels(**_names(canary)).observe(seconds)

    # what the platforms add

    def tick_lag(self, seconds: float) -> None:
        """How late a tick started (waiting for a turn, a busy event loop)."""
        self._lag.observe(max(0.0, seconds))

    def canary_totals(self, counts: dict[str, int]) -> None:
        """How many canaries each namespace has (Flagger sets this every control loop)."""
        for namespace, count in counts.items():
            self._total.labels(namespace=namespace).set(count)

    def forget(self, canary: Canary) -> None:
        """Drop a deleted canary's series, so dashboards stop showing it."""
        labels = _names(canary)
        for gauge in (self._status, self._duration):
            _remove(gauge, labels["name"], labels["namespace"])
        target = canary.spec.target_ref.name
        for workload in (target, f"{target}-primary"):
            _remove(self._weight, workload, canary.namespace)


_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, with its content type, to serve on /metrics."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _names(canary: Canary) -> dict[str, str]:
    # Flagger's `name` label is the target's name, not the Canary's
    return {"name": canary.spec.target_ref.name, "namespace": canary.namespace}


def _remove(metric: Gauge | Histogram, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        return  # never recorded
