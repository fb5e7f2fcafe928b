"""The Prometheus provider against a real Prometheus: each outcome a check can meet.

Values come from the Istio-like exporter of `conftest.py`; failures of the transport come from
loopback servers that refuse, stay silent or demand credentials.
"""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

import aiohttp
import aiohttp.abc
import pytest

from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.prometheus import (
    BasicCredentials,
    BearerToken,
    PrometheusProvider,
    credentials_from_directory,
)
from kanaria.providers.registry import provider_for
from tests.integration.providers.servers import AuthProxy, SilentServer
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

PODINFO = 'istio_requests_total{destination_workload="podinfo"}'


# --- outcomes of a query -------------------------------------------------------------------------


async def test_a_single_sample_is_the_value(provider: PrometheusProvider) -> None:
    # podinfo has a 200 and a 500 series (its success rate is 95 %).
    assert await provider.query(f"count({PODINFO})") == 2.0


async def test_a_scalar_is_the_value(provider: PrometheusProvider) -> None:
    assert await provider.query(f"scalar(count({PODINFO})) * 3") == 6.0


async def test_an_empty_result_is_no_values(provider: PrometheusProvider) -> None:
    with pytest.raises(NoValuesError, match="empty result"):
        await provider.query('sum(istio_requests_total{destination_workload="absent"})')


async def test_zero_over_zero_is_no_values(provider: PrometheusProvider) -> None:
    idle = 'istio_requests_total{destination_workload="idle"}'
    with pytest.raises(NoValuesError, match="NaN"):
        await provider.query(f"sum(rate({idle}[5s])) / sum(rate({idle}[5s]))")


async def test_several_series_are_an_error_naming_them(provider: PrometheusProvider) -> None:
    with pytest.raises(MultipleValuesError) as caught:
        await provider.query("sum by (destination_workload) (istio_requests_total)")
    assert '{destination_workload="podinfo"}' in str(caught.value)
    assert '{destination_workload="podinfo-primary"}' in str(caught.value)


async def test_a_range_vector_is_several_values(provider: PrometheusProvider) -> None:
    with pytest.raises(MultipleValuesError, match="range vector"):
        await provider.query(f'{PODINFO[:-1]},response_code="200"}}[5s]')


async def test_a_syntax_error_is_a_query_error(provider: PrometheusProvider) -> None:
    with pytest.raises(QueryError, match=r"rejected the query: bad_data: .*parse error"):
        await provider.query("sum(rate(istio_requests_total[5s])")


async def test_an_execution_error_is_a_query_error(provider: PrometheusProvider) -> None:
    with pytest.raises(QueryError, match="many-to-many matching not allowed"):
        await provider.query("istio_requests_total + on(destination_workload) istio_requests_total")


async def test_a_long_query_is_posted(prometheus: PrometheusServer) -> None:
    long_query = " + ".join(["vector(1)"] * 600)
    async with (
        AuthProxy(prometheus.url, authorization=None) as proxy,
        PrometheusProvider(proxy.url) as provider,
    ):
        assert await provider.query(long_query) == 600
        assert await provider.query("vector(1)") == 1
    assert [request.method for request in proxy.received] == ["POST", "GET"]


async def test_is_online(provider: PrometheusProvider) -> None:
    assert await provider.is_online() is True


async def test_a_session_is_reused_and_reopened_after_close(
    provider: PrometheusProvider,
) -> None:
    await provider.query("vector(1)")
    session = provider._session
    await provider.query("vector(2)")
    assert provider._session is session
    await provider.close()
    assert await provider.query("vector(3)") == 3


# --- an unreachable or slow Prometheus -----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_is_unavailability() -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    async with PrometheusProvider(address) as provider:
        with pytest.raises(
            ProviderUnavailableError, match=f"Prometheus at {address} is unreachable"
        ):
            await provider.query("vector(1)")
        with pytest.raises(ProviderUnavailableError, match="unreachable"):
            await provider.is_online()


async def test_a_silent_server_times_out_on_time() -> None:
    async with SilentServer() as silent, PrometheusProvider(silent.url, timeout=0.3) as provider:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError, match=r"did not answer within 0\.3 s"):
            await provider.query("vector(1)")
        assert time.monotonic() - started < 2


# --- credentials and headers ---------------------------------------------------------------------


async def test_bearer_token_from_a_template_secret(prometheus: PrometheusServer) -> None:
    async with AuthProxy(prometheus.url, authorization="Bearer s3cret") as proxy:
        settings = ProviderSettings(proxy.url, secret={"token": b"s3cret\n"})
        provider = provider_for("prometheus", settings)
        try:
            assert await provider.is_online() is True
        finally:
            await provider.close()


async def test_basic_credentials_from_a_mounted_secret(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    (tmp_path / "username").write_text("admin")
    (tmp_path / "password").write_text("pa55")
    expected = "Basic " + base64.b64encode(b"admin:pa55").decode()
    async with (
        AuthProxy(prometheus.url, authorization=expected) as proxy,
        PrometheusProvider(proxy.url, credentials=credentials_from_directory(tmp_path)) as provider,
    ):
        assert await provider.query(f"count({PODINFO})") == 2


@pytest.mark.parametrize(
    "credentials",
    [None, BearerToken("wrong"), BasicCredentials("admin", "s3cret")],
    ids=["none", "wrong-token", "basic-instead"],
)
async def test_refused_credentials_are_an_auth_error(
    prometheus: PrometheusServer, credentials: BearerToken | BasicCredentials | None
) -> None:
    async with (
        AuthProxy(prometheus.url, authorization="Bearer s3cret") as proxy,
        PrometheusProvider(proxy.url, credentials=credentials) as provider,
    ):
        with pytest.raises(ProviderAuthError, match=r"refused the credentials \(HTTP 401\)"):
            await provider.query("vector(1)")


async def test_extra_headers_are_sent(prometheus: PrometheusServer) -> None:
    async with (
        AuthProxy(prometheus.url, authorization=None) as proxy,
        PrometheusProvider(proxy.url, headers={"X-Scope-OrgID": "tenant-a"}) as provider,
    ):
        await provider.query("vector(1)")
    assert proxy.received[0].headers["X-Scope-OrgID"] == "tenant-a"


# --- transport hooks for the local platform ------------------------------------------------------


class LoopbackResolver(aiohttp.abc.AbstractResolver):
    """Resolves every name to 127.0.0.1, as the local platform does for its service names."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


async def test_a_custom_resolver_reaches_a_service_name(prometheus: PrometheusServer) -> None:
    address = f"http://prometheus.monitoring:{prometheus.port}"
    async with PrometheusProvider(address, resolver=LoopbackResolver()) as provider:
        assert await provider.query("vector(7)") == 7


async def test_a_shared_connector_is_left_open(prometheus: PrometheusServer) -> None:
    connector = aiohttp.TCPConnector()
    try:
        async with PrometheusProvider(prometheus.url, connector=connector) as provider:
            assert await provider.is_online()
        assert not connector.closed
    finally:
        await connector.close()
