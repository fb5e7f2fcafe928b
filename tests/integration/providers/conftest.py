"""One real Prometheus scraping one Istio-like exporter, shared by this package's tests.

Prometheus takes ~6 s to its first scrape, so both start once per package. Each workload
below has fixed traffic that tests read; a test that changes traffic uses a workload of
its own, so the tests stay independent of their order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from kanaria.providers.prometheus import PrometheusProvider
from tests.support.istio_exporter import IstioExporter, LatencyProfile
from tests.support.prometheus import PrometheusServer, run_prometheus


@dataclass(frozen=True)
class Workload:
    name: str
    rps: float
    success_rate: float
    latency_ms: LatencyProfile


NAMESPACE = "test"
CANARY = Workload("podinfo", rps=10, success_rate=0.95, latency_ms={100: 0.95, 700: 0.05})
PRIMARY = Workload("podinfo-primary", rps=20, success_rate=1.0, latency_ms=50)
IDLE = Workload("idle", rps=0, success_rate=1.0, latency_ms=50)
CHANGING = Workload("changing", rps=10, success_rate=1.0, latency_ms=50)


@pytest.fixture(scope="package")
def istio_exporter() -> Iterator[IstioExporter]:
    with IstioExporter() as exporter:
        for workload in (CANARY, PRIMARY, IDLE, CHANGING):
            exporter.set_traffic(
                workload.name,
                namespace=NAMESPACE,
                rps=workload.rps,
                success_rate=workload.success_rate,
                latency_ms=workload.latency_ms,
            )
        yield exporter


@pytest.fixture(scope="package")
def prometheus(istio_exporter: IstioExporter) -> Iterator[PrometheusServer]:
    """Ready once every series has two samples, so ratios and rate() have values."""
    with run_prometheus([istio_exporter.target]) as server:
        server.wait_for_value("min(count_over_time(up[10s]))", predicate=lambda n: n >= 2)
        yield server


@pytest.fixture
async def provider(prometheus: PrometheusServer) -> AsyncIterator[PrometheusProvider]:
    async with PrometheusProvider(prometheus.url) as provider:
        yield provider
