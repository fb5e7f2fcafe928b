"""Graphite MetricTemplates against a real carbon-cache and graphite-web: points sent with
carbon's plaintext protocol, read back through the render API by the graphite provider, and
judged by the engine's check, with the events a user would read."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from kanaria.platforms.local.binaries import free_port
from kanaria.providers import MultipleValuesError, NoValuesError, QueryError
from tests.integration.providers.servers import AuthProxy
from tests.support.graphite_server import GraphiteServer
from tests.support.templates import TemplateCheck, metric_template, secret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def series(graphite: GraphiteServer, *values: float) -> str:
    """A fresh series with one point per second, the last one now; its path."""
    path = f"kanaria.test.{uuid.uuid4().hex[:8]}"
    now = int(time.time())
    graphite.send_lines([f"{path} {value} {now - len(values) + 1 + index}"
                         for index, value in enumerate(values)])  # fmt: skip
    graphite.wait_until_readable(path)
    return path


def graphite_template(address: str, query: str, **provider: object) -> dict[str, object]:
    return metric_template("rate", {"type": "graphite", "address": address, **provider}, query)


async def test_a_template_reads_the_last_point_of_its_series(graphite: GraphiteServer) -> None:
    path = series(graphite, 97.0, 98.0, 99.5)
    check = TemplateCheck(graphite_template(graphite.url, f"target={path}&from=-1min"))
    try:
        checked = await check.check("rate", max_value=100)
    finally:
        await check.close()
    assert checked.value == 99.5
    assert checked.verdict == "pass"
    assert checked.events == []


async def test_the_query_is_rendered_with_the_canary_names(graphite: GraphiteServer) -> None:
    path = f"kanaria.{uuid.uuid4().hex[:8]}.test.podinfo.rate"
    graphite.send(path, 12.0)
    graphite.wait_until_readable(path)
    prefix = path.split(".")[1]
    query = f"target=kanaria.{prefix}.{{{{ namespace }}}}.{{{{ target }}}}.rate&from=-1min"
    check = TemplateCheck(graphite_template(graphite.url, query))
    try:
        assert await check.measure("rate") == 12.0
    finally:
        await check.close()


async def test_a_series_without_points_halts_with_no_values(graphite: GraphiteServer) -> None:
    check = TemplateCheck(graphite_template(graphite.url, "target=kanaria.none.at.all&from=-1min"))
    try:
        with pytest.raises(NoValuesError):
            await check.measure("rate")
        checked = await check.check("rate")
    finally:
        await check.close()
    assert checked.verdict == "no-data"
    [event] = checked.events
    assert event.startswith("Halt advancement no values found for")
    assert "no values found: graphite returned no series" in event


async def test_a_wildcard_over_several_series_is_an_error(graphite: GraphiteServer) -> None:
    branch = f"kanaria.multi{uuid.uuid4().hex[:8]}"
    graphite.send_lines([f"{branch}.a 1 {int(time.time())}", f"{branch}.b 2 {int(time.time())}"])
    graphite.wait_until_readable(f"{branch}.a")
    graphite.wait_until_readable(f"{branch}.b")
    check = TemplateCheck(graphite_template(graphite.url, f"target={branch}.*&from=-1min"))
    try:
        with pytest.raises(MultipleValuesError, match="returned 2 series"):
            await check.measure("rate")
        checked = await check.check("rate")
    finally:
        await check.close()
    assert checked.verdict == "error"
    [event] = checked.events
    assert event.startswith("Metric query failed for backend-check: the target returned 2 series")
    assert "sumSeries" in event


async def test_an_unknown_function_is_refused_by_graphite(graphite: GraphiteServer) -> None:
    check = TemplateCheck(graphite_template(graphite.url, "target=nosuchfunction(a.b)"))
    try:
        with pytest.raises(QueryError, match=r"rejected the query \(HTTP 400\).*nosuchfunction"):
            await check.measure("rate")
    finally:
        await check.close()


async def test_an_unreachable_graphite_fails_the_check_and_the_availability() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    check = TemplateCheck(graphite_template(address, "target=a.b"))
    try:
        checked = await check.check("rate")
        availability = await check.availability("rate")
    finally:
        await check.close()
    assert checked.verdict == "error"
    [event] = checked.events
    assert f"Graphite at {address} is unreachable" in event
    [error] = availability
    assert error.startswith(
        f"Error checking metric providers: graphite in metric template rate.test not available: "
        f"Graphite at {address} is unreachable"
    )


async def test_a_real_graphite_is_available(graphite: GraphiteServer) -> None:
    check = TemplateCheck(graphite_template(graphite.url, "target=a.b"))
    try:
        assert await check.availability("rate") == ["all the metrics providers are available!"]
    finally:
        await check.close()


async def test_basic_auth_comes_from_the_secret_and_a_wrong_one_is_named(
    graphite: GraphiteServer,
) -> None:
    path = series(graphite, 42.0)
    good = "Basic " + base64.b64encode(b"kanaria:right-pw").decode()
    async with AuthProxy(graphite.url, authorization=good) as proxy:
        provider = {"secretRef": {"name": "graphite-auth"}}
        query = f"target={path}&from=-1min"
        right = TemplateCheck(
            graphite_template(proxy.url, query, **provider),
            secret("graphite-auth", {"username": "kanaria", "password": "right-pw"}),
        )
        wrong = TemplateCheck(
            graphite_template(proxy.url, query, **provider),
            secret("graphite-auth", {"username": "kanaria", "password": "wrong-pw"}),
        )
        try:
            value = await right.measure("rate")
            refused = await wrong.check("rate")
        finally:
            await right.close()
            await wrong.close()
    assert value == 42.0
    [event] = refused.events
    assert "refused the credentials (HTTP 401)" in event
    assert "`username`, `password` in Secret graphite-auth.test" in event
    assert "wrong-pw" not in event
    assert proxy.received[0].path == "/render"
