"""podinfo's own Prometheus metrics, under the names podinfo exports.

Dashboards and MetricTemplates written against podinfo query `http_request_duration_seconds`
(method, path, status) and `http_requests_total` (status); the app keeps them in a registry of its
own so that tests can start several apps in one process without clashing.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "AppMetrics"]


class AppMetrics:
    """The request histogram and counter, plus process_* and python_info."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Seconds spent serving HTTP requests.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self._requests = Counter(
            "http_requests_total",
            "The total number of HTTP requests.",
            ["status"],
            registry=self.registry,
        )

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self._duration.labels(method=method, path=path, status=str(status)).observe(seconds)
        self._requests.labels(status=str(status)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
