"""A Flux MetricTemplate pointed at a real InfluxDB 1.x (Debian's 1.6): Flagger's influxdb
provider speaks Flux over `/api/v2/query`, which InfluxDB 1.x before 1.8 does not have. The user
is told so, by the availability check and by each analysis, instead of reading "no values"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.influxdb_server import InfluxDBServer, run_influxdb
from tests.support.templates import TemplateCheck, metric_template, secret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def influxdb() -> Iterator[InfluxDBServer]:
    with run_influxdb() as server:
        yield server


async def test_a_flux_template_on_influxdb_1x_says_there_is_no_flux_api(
    influxdb: InfluxDBServer,
) -> None:
    provider = {"type": "influxdb", "address": influxdb.url, "secretRef": {"name": "influx"}}
    flux = 'from(bucket: "istio") |> range(start: -1m) |> mean()'
    check = TemplateCheck(
        metric_template("rate", provider, flux),
        secret("influx", {"token": "admin:admin", "org": "-"}),
    )
    try:
        availability = await check.availability("rate")
        checked = await check.check("rate")
    finally:
        await check.close()
    explanation = (
        f"InfluxDB at {influxdb.url} has no Flux query API at /api/v2/query "
        f"(it runs InfluxDB {influxdb.version}): InfluxDB 1.7 and older have none"
    )
    [error] = availability
    assert error.startswith(
        "Error checking metric providers: influxdb in metric template rate.test"
    )
    assert explanation in error
    assert checked.verdict == "error"
    [event] = checked.events
    assert explanation in event
