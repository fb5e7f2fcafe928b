"""Flagger's Istio queries and kanaria's count queries, rendered and run on a real Prometheus.

The exporter's traffic is known, so the answers are too: success rates exactly (the ratio of
two rates sampled at the same instants), P99 as Prometheus interpolates inside the bucket
(computed by `histogram_quantile` of the exporter module), counts within 3 %.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kanaria.providers.base import NoValuesError
from kanaria.providers.prometheus import PrometheusProvider
from kanaria.providers.queries import MESHES, Workload, builtin_query, count_queries
from kanaria.providers.render import TemplateModel, render_query
from tests.integration.providers.conftest import CANARY, CHANGING, IDLE, NAMESPACE, PRIMARY
from tests.support.istio_exporter import IstioExporter, histogram_quantile

pytestmark = pytest.mark.integration

SUCCESS_RATE_TOLERANCE = 0.01  # percentage points; float rounding only
P99_RELATIVE_TOLERANCE = 1e-3
COUNT_RELATIVE_TOLERANCE = 0.03  # increase() extrapolates at the window's edges


def model(target: str, interval: float = 5) -> TemplateModel:
    return TemplateModel(name="podinfo", namespace=NAMESPACE, target=target, interval=interval)


async def success_rate(provider: PrometheusProvider, target: str) -> float:
    query = render_query(builtin_query("istio", "request-success-rate"), model(target))
    return await provider.query(query)


async def p99(provider: PrometheusProvider, target: str) -> float:
    return await provider.query(
        render_query(builtin_query("istio", "request-duration"), model(target))
    )


async def eventually(
    read: Callable[[], Awaitable[float]], accept: Callable[[float], bool], within: float = 15
) -> float:
    """Poll until `accept(value)`; windows need a few scrapes to fill after a change."""
    deadline = time.monotonic() + within
    value = await read()
    while not accept(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        value = await read()
    return value


# --- Flagger's builtin checks --------------------------------------------------------------------


async def test_istio_success_rate_of_the_canary(provider: PrometheusProvider) -> None:
    expected = CANARY.success_rate * 100
    assert await success_rate(provider, CANARY.name) == pytest.approx(
        expected, abs=SUCCESS_RATE_TOLERANCE
    )


async def test_istio_p99_of_the_canary(provider: PrometheusProvider) -> None:
    expected = histogram_quantile(0.99, CANARY.latency_ms)  # 900 ms: inside the 500-1000 bucket
    assert await p99(provider, CANARY.name) == pytest.approx(expected, rel=P99_RELATIVE_TOLERANCE)


async def test_istio_checks_of_the_primary(provider: PrometheusProvider) -> None:
    assert await success_rate(provider, PRIMARY.name) == pytest.approx(100)
    expected = histogram_quantile(0.99, PRIMARY.latency_ms)  # 49.75 ms
    assert await p99(provider, PRIMARY.name) == pytest.approx(expected, rel=P99_RELATIVE_TOLERANCE)


async def test_a_workload_without_requests_has_no_success_rate(
    provider: PrometheusProvider,
) -> None:
    with pytest.raises(NoValuesError, match="NaN"):
        await success_rate(provider, IDLE.name)


async def test_checks_follow_traffic_changed_at_runtime(
    provider: PrometheusProvider, istio_exporter: IstioExporter
) -> None:
    before = await success_rate(provider, CHANGING.name)
    assert before == pytest.approx(100)
    istio_exporter.set_traffic(
        CHANGING.name, namespace=NAMESPACE, rps=10, success_rate=0.8, latency_ms=300
    )

    def settled(value: float) -> bool:
        return abs(value - 80) < SUCCESS_RATE_TOLERANCE

    assert settled(await eventually(lambda: success_rate(provider, CHANGING.name), settled))
    assert await p99(provider, CHANGING.name) == pytest.approx(
        histogram_quantile(0.99, 300), rel=P99_RELATIVE_TOLERANCE
    )


# --- count queries for a sequential judge --------------------------------------------------------


async def counts(
    provider: PrometheusProvider, target: str, workload: Workload, *, windowed: bool = True
) -> tuple[float, float, float]:
    """Total, failed and slower-than-500-ms requests of `target`, over 5 s or cumulative."""
    found = count_queries("istio", workload, latency_bound_ms=500, windowed=windowed)
    rendered = [render_query(q, model(target)) for q in (found.total, found.failed, found.slow)]
    total, failed, slow = [await provider.query(query) for query in rendered]
    return total, failed, slow


async def test_windowed_counts_of_canary_and_primary(provider: PrometheusProvider) -> None:
    window_total = CANARY.rps * 5

    async def canary_total() -> float:
        return (await counts(provider, "podinfo", "canary"))[0]

    await eventually(
        canary_total,
        lambda total: total == pytest.approx(window_total, rel=COUNT_RELATIVE_TOLERANCE),
    )
    total, failed, slow = await counts(provider, "podinfo", "canary")
    assert total == pytest.approx(window_total, rel=COUNT_RELATIVE_TOLERANCE)
    assert failed / total == pytest.approx(1 - CANARY.success_rate)
    assert slow / total == pytest.approx(0.05)  # the 700 ms share, above the 500 ms bound

    # The primary never failed: no 5xx series exists, and the count is 0, not "no values".
    total, failed, slow = await counts(provider, "podinfo", "primary")
    assert total == pytest.approx(PRIMARY.rps * 5, rel=COUNT_RELATIVE_TOLERANCE)
    assert (failed, slow) == (0, 0)


async def test_cumulative_counts(provider: PrometheusProvider) -> None:
    total, failed, slow = await counts(provider, "podinfo", "canary", windowed=False)
    assert total > 0
    assert failed / total == pytest.approx(1 - CANARY.success_rate)
    assert slow / total == pytest.approx(0.05)


async def test_counts_of_a_workload_without_series_are_no_values(
    provider: PrometheusProvider,
) -> None:
    with pytest.raises(NoValuesError):
        await counts(provider, "absent", "canary")


# --- every mesh's queries are valid PromQL -------------------------------------------------------


def test_every_query_of_every_mesh_parses(tmp_path: Path) -> None:
    """promtool parses each rendered query as a recording rule; any PromQL error fails it."""
    queries = []
    workloads: tuple[Workload, ...] = ("canary", "primary")
    for mesh in sorted(MESHES):
        queries += [
            builtin_query(mesh, name) for name in ("request-success-rate", "request-duration")
        ]
        for workload in workloads if MESHES[mesh].primary_selector else ():
            for windowed in (True, False):
                found = count_queries(mesh, workload, latency_bound_ms=250, windowed=windowed)
                queries += [found.total, found.failed, found.slow]
    rules = "groups:\n- name: kanaria\n  rules:\n" + "".join(
        f"  - record: kanaria:query_{index}\n    expr: '{render_query(query, model('podinfo'))}'\n"
        for index, query in enumerate(queries)
    )
    (tmp_path / "rules.yml").write_text(rules)
    result = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
