"""A release on the local platform gated by a Graphite MetricTemplate, end to end.

The seed runs as usual — Envoy, Prometheus, the load tester's `hey` — but the Canary's only
check is a `graphite` MetricTemplate: a small exporter copies the platform's real request
counters from Prometheus into a real carbon-cache, and the release advances only while
graphite-web's success rate of the canary holds. A healthy version is promoted; a faulty one is
rolled back by the Graphite check. Short on purpose: two steps of 10 %, two failed checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kanaria.cli import local
from kanaria.cli.kubectl import read_manifests
from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.state import ControlPlaneConfig, StateDir
from kanaria.spec.objects import CANARY, DEPLOYMENT
from tests.integration.local.conftest import leftovers
from tests.integration.releases.conftest import (
    INTERVAL,
    SEED,
    TIME_SCALE,
    Platform,
    observed,
    phase_is,
    set_image,
    until,
)
from tests.support.graphite_exporter import PrometheusToGraphite
from tests.support.graphite_server import GraphiteServer, run_graphite

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

RELEASE_LIMIT = 30 * INTERVAL
SUCCESS_RATE = """
target=asPercent(
  summarize(sumSeries(istio.{{ namespace }}.{{ target }}.requests.{1,2,3,4}*), '1h', 'sum', true),
  summarize(sumSeries(istio.{{ namespace }}.{{ target }}.requests.*), '1h', 'sum', true))
&from=-{{ interval }}
"""


def graphite_gated(
    manifests: list[dict[str, Any]], graphite: GraphiteServer
) -> list[dict[str, Any]]:
    """The seed, with a Graphite template as the Canary's only check and a short analysis."""
    template = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "graphite-success-rate", "namespace": "test"},
        "spec": {"provider": {"type": "graphite", "address": graphite.url}, "query": SUCCESS_RATE},
    }
    for manifest in manifests:
        if manifest["kind"] == "Canary":
            analysis = manifest["spec"]["analysis"]
            analysis.update({"maxWeight": 20, "stepWeight": 10, "threshold": 2})
            analysis["metrics"] = [
                {
                    "name": "graphite-success-rate",
                    "templateRef": {"name": "graphite-success-rate"},
                    "interval": "1m",
                    "thresholdRange": {"min": 99},
                }
            ]
    return [*manifests, template]


@pytest.fixture(scope="module")
def graphite() -> Iterator[GraphiteServer]:
    with run_graphite() as server:
        yield server


@pytest.fixture(scope="module")
def platform(
    graphite: GraphiteServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    state = StateDir.at(tmp_path_factory.mktemp("graphite-release"))
    config = ControlPlaneConfig(TIME_SCALE, free_port(), 0)
    urls = local.start_in_background(state, config)
    try:
        platform = Platform(state, config, urls)
        asyncio.run(_seed(platform, graphite))
        yield platform
    finally:
        local.stop_platform(state)
        assert leftovers(state) == []


async def _seed(platform: Platform, graphite: GraphiteServer) -> None:
    async with platform.client() as client:
        await client.apply(graphite_gated(read_manifests([str(SEED)], None), graphite))
        await until(lambda: phase_is(client, "Initialized"), within=120)


@contextlib.asynccontextmanager
async def exported(
    platform: Platform, graphite: GraphiteServer
) -> AsyncIterator[PrometheusToGraphite]:
    exporter = PrometheusToGraphite(platform.urls["prometheus"], graphite)
    task = asyncio.ensure_future(exporter.run())
    try:
        yield exporter
    finally:
        exporter.stop()
        await asyncio.wait_for(task, timeout=10)


def image_of(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def graphite_checks(canary: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert canary is not None
    checks = canary.get("status", {}).get("checks") or []
    return [check for check in checks if check["name"] == "graphite-success-rate"]


async def test_a_healthy_version_is_promoted_on_graphites_word(
    platform: Platform, graphite: GraphiteServer
) -> None:
    async with (
        platform.client() as client,
        exported(platform, graphite) as exporter,
        observed(platform) as seen,
    ):
        await set_image(client, "stefanprodan/podinfo:3.1.1")
        await until(lambda: phase_is(client, "Progressing"), within=RELEASE_LIMIT)
        await until(lambda: phase_is(client, "Succeeded", "Failed"), within=RELEASE_LIMIT)
        canary = await client.get(CANARY, "test", "podinfo")
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
    assert canary is not None
    assert canary["status"]["phase"] == "Succeeded", seen.events.seen
    normal = seen.events.normal()
    assert "Advance podinfo.test canary weight 10" in normal
    assert "Advance podinfo.test canary weight 20" in normal
    [check] = graphite_checks(canary)
    assert check["verdict"] == "pass"
    assert check["value"] >= 99
    assert exporter.sent > 0
    assert image_of(primary) == "stefanprodan/podinfo:3.1.1"


async def test_a_faulty_version_is_rolled_back_by_the_graphite_check(
    platform: Platform, graphite: GraphiteServer
) -> None:
    async with (
        platform.client() as client,
        exported(platform, graphite),
        observed(platform) as seen,
    ):
        before = image_of(await client.get(DEPLOYMENT, "test", "podinfo-primary"))
        await set_image(client, "stefanprodan/podinfo:3.1.2-faulty")
        await until(lambda: phase_is(client, "Progressing"), within=RELEASE_LIMIT)
        await until(lambda: phase_is(client, "Failed", "Succeeded"), within=RELEASE_LIMIT)
        canary = await client.get(CANARY, "test", "podinfo")
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
    messages = [message for _, message in seen.events.seen]
    assert canary is not None
    assert canary["status"]["phase"] == "Failed", messages
    halts = [
        m for m in messages if m.startswith("Halt podinfo.test advancement graphite-success-rate")
    ]
    assert halts, messages
    assert " < 99" in halts[0]
    assert "Rolling back podinfo.test failed checks threshold reached 2" in messages
    [check] = graphite_checks(canary)
    assert check["verdict"] == "fail"
    assert image_of(primary) == before, "the faulty version never reached the primary"
