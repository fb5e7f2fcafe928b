"""The operator's integration tests: the API emulator per test; Prometheus and the Istio-like
exporter once for the package (Prometheus takes ~6 s to its first scrape); a stand-in for the
load tester that answers every webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.kubernetes.harness import TRAFFIC, HookServer
from tests.support.istio_exporter import IstioExporter
from tests.support.k8s.fixtures import k8s_cluster
from tests.support.prometheus import PrometheusServer, run_prometheus

__all__ = ["k8s_cluster"]


@pytest.fixture(scope="package")
def istio_exporter() -> Iterator[IstioExporter]:
    with IstioExporter() as exporter:
        for (namespace, workload), (success_rate, latency_ms) in TRAFFIC.items():
            exporter.set_traffic(
                workload,
                namespace=namespace,
                rps=10,
                success_rate=success_rate,
                latency_ms=latency_ms,
            )
        yield exporter


@pytest.fixture(scope="package")
def prometheus(istio_exporter: IstioExporter) -> Iterator[PrometheusServer]:
    """Ready once every series has a few samples, so the operator's windows have data."""
    with run_prometheus([istio_exporter.target]) as server:
        server.wait_for_value("min(count_over_time(up[10s]))", predicate=lambda n: n >= 4)
        yield server


@pytest.fixture
async def hooks() -> AsyncIterator[HookServer]:
    async with HookServer() as server:
        yield server
