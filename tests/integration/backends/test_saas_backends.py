"""The SaaS backends — Datadog, New Relic, Dynatrace, Cloud Monitoring (Stackdriver), Splunk
Observability (SignalFlow), a Kubernetes external metrics adapter — and InfluxDB 2's Flux API,
each against a local server that answers with the vendor's documented request and response
shapes (tests/support/vendors.py; these are not the real services). Every backend goes through
the same scenarios, as the engine reports them: a value, no values, several series, a refused
credential, rate limiting, a server error, a rejected query, an unreachable address, and the
availability check."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kanaria.platforms.local.binaries import free_port
from kanaria.spec.templates import MetricTemplate
from tests.support.templates import Checked, TemplateCheck, metric_template, secret
from tests.support.vendors import (
    CloudMonitoring,
    Datadog,
    Dynatrace,
    ExternalMetricsAdapter,
    InfluxDB2,
    NewRelic,
    SignalFx,
    VendorServer,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "s3cr3t-credential-value"
WRONG = "wr0ng-credential-value"


@dataclass(frozen=True)
class Backend:
    """How a user points a MetricTemplate of `type` at a server of the vendor."""

    type: str
    name: str  # how messages name it
    server: Callable[[], VendorServer]
    provider: Callable[[VendorServer], dict[str, Any]]
    credentials: Callable[[VendorServer, str], dict[str, str]]
    query: str
    secret_keys: str  # how a refusal names the keys

    def template(self, server: VendorServer, address: str | None = None) -> dict[str, Any]:
        provider = {"type": self.type, "secretRef": {"name": "vendor"}, **self.provider(server)}
        if address is not None:
            provider["address"] = address
        return metric_template("vendor-check", provider, self.query)


def service_account(server: CloudMonitoring, key: rsa.RSAPrivateKey, email: str) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps({
        "type": "service_account", "project_id": server.project, "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "1",
        "token_uri": f"{server.url}/token",
    })  # fmt: skip


_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def google_credentials(server: VendorServer, credential: str) -> dict[str, str]:
    assert isinstance(server, CloudMonitoring)
    server.public_key = _KEY.public_key()
    key = _KEY if credential == TOKEN else _OTHER_KEY
    return {"project": server.project,
            "serviceAccountKey": service_account(server, key, "kanaria@test.iam")}  # fmt: skip


BACKENDS = [
    Backend(
        "datadog", "Datadog", lambda: Datadog(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"datadog_api_key": key, "datadog_application_key": "app-key"},
        "sum:istio.mesh.request.count{destination_workload:{{ target }}}.as_count()",
        "`datadog_api_key`, `datadog_application_key` in Secret vendor.test",
    ),
    Backend(
        "newrelic", "New Relic", lambda: NewRelic(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"newrelic_account_id": "1234567", "newrelic_query_key": key},
        "SELECT percentage(count(*), WHERE error IS false) FROM Transaction "
        "WHERE appName = '{{ target }}'",
        "`newrelic_account_id`, `newrelic_query_key` in Secret vendor.test",
    ),
    Backend(
        "dynatrace", "Dynatrace", lambda: Dynatrace(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"dynatrace_token": key},
        'builtin:service.errors.total.rate:filter(eq("dt.entity.service.name","{{ target }}"))',
        "`dynatrace_token` in Secret vendor.test",
    ),
    Backend(
        "stackdriver", "Cloud Monitoring", lambda: CloudMonitoring("kanaria@test.iam"),
        lambda server: {"address": server.url},
        google_credentials,
        "fetch k8s_container | metric 'istio.io/service/server/request_count' "
        "| filter resource.namespace_name == '{{ namespace }}' | within 1m",
        "`serviceAccountKey`, `project` in Secret vendor.test",
    ),
    Backend(
        "splunk", "Splunk Observability", lambda: SignalFx(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"sf_token_key": key},
        "data('requests.error.rate', filter=filter('service', '{{ target }}')).mean().publish()",
        "`sf_token_key` in Secret vendor.test",
    ),
    Backend(
        "externalmetrics", "External metrics API", lambda: ExternalMetricsAdapter(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"token": key},
        "{{ namespace }}/success-rate?labelSelector=app%3D{{ target }}",
        "`token` in Secret vendor.test",
    ),
    Backend(
        "influxdb", "InfluxDB", lambda: InfluxDB2(TOKEN),
        lambda server: {"address": server.url},
        lambda server, key: {"token": key, "org": "kanaria"},
        'from(bucket: "istio") |> range(start: -1m) '
        '|> filter(fn: (r) => r.workload == "{{ target }}") |> mean()',
        "`token`, `org` in Secret vendor.test",
    ),
]  # fmt: skip


@pytest.fixture(params=BACKENDS, ids=[backend.type for backend in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
async def server(backend: Backend) -> AsyncIterator[VendorServer]:
    async with backend.server() as running:
        yield running


async def check(
    backend: Backend, server: VendorServer, credential: str = TOKEN, address: str | None = None
) -> tuple[Checked, list[str]]:
    """The engine's check of one interval, and the initialization's availability events."""
    document = backend.template(server, address)
    MetricTemplate.model_validate(document)
    checker = TemplateCheck(document, secret("vendor", backend.credentials(server, credential)))
    try:
        return await checker.check("vendor-check", max_value=100), await checker.availability(
            "vendor-check"
        )
    finally:
        await checker.close()


def only(events: list[str]) -> str:
    [event] = events
    assert TOKEN not in event, "a credential reached an event"
    assert WRONG not in event, "a credential reached an event"
    return event


async def test_a_value_passes_the_check(backend: Backend, server: VendorServer) -> None:
    server.series = [[99.5]]
    checked, availability = await check(backend, server)
    assert checked.value == 99.5
    assert checked.verdict == "pass"
    assert checked.events == []
    assert availability == ["all the metrics providers are available!"]


async def test_an_empty_answer_halts_with_no_values(backend: Backend, server: VendorServer) -> None:
    server.series = []
    checked, _ = await check(backend, server)
    assert checked.verdict == "no-data"
    event = only(checked.events)
    assert event.startswith("Halt advancement no values found for")
    assert "no values found" in event.split(":", 1)[1]


async def test_several_series_fail_the_check(backend: Backend, server: VendorServer) -> None:
    server.series = [[1.0], [2.0]]
    checked, _ = await check(backend, server)
    assert checked.verdict == "error"
    event = only(checked.events)
    assert event.startswith("Metric query failed for backend-check:")
    assert " 2 " in event, event


async def test_a_wrong_credential_is_named_without_its_value(
    backend: Backend, server: VendorServer
) -> None:
    checked, availability = await check(backend, server, credential=WRONG)
    assert checked.verdict == "error"
    event = only(checked.events)
    assert "refused the" in event, event
    assert backend.secret_keys in event or backend.type == "splunk", event
    error = only(availability)
    assert error.startswith(
        f"Error checking metric providers: {backend.type} in metric template vendor-check.test "
        "not available:"
    )


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("rate-limited", "rate limiting"),
        ("server-error", "failed (HTTP 5"),
        ("bad-query", "rejected the query"),
    ],
)
async def test_the_backends_refusals_read_clearly(
    backend: Backend, server: VendorServer, mode: str, words: str
) -> None:
    server.mode = mode
    checked, _ = await check(backend, server)
    assert checked.verdict == "error"
    event = only(checked.events)
    program_error = backend.type == "splunk" and mode == "bad-query"
    expected = "failed the SignalFlow program" if program_error else words
    assert expected in event, event


async def test_an_unreachable_backend_is_unavailable(
    backend: Backend, server: VendorServer
) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    if backend.type == "stackdriver":
        server.mode = "ok"  # the token endpoint is the server's; the API is not
    checked, availability = await check(backend, server, address=address)
    event = only(checked.events)
    assert event.startswith("Prometheus query failed: metrics provider unavailable:")
    assert f"{backend.name} at {address} is unreachable" in event
    assert "not available" in only(availability)


# --- what each backend is sent: Flagger's requests and windows --------------------------------


async def sent(backend_type: str, server: VendorServer) -> None:
    """One check with `interval: 1m` against `server`."""
    [chosen] = [each for each in BACKENDS if each.type == backend_type]
    server.series = [[99.5]]
    checked, _ = await check(chosen, server)
    assert checked.value == 99.5


async def test_datadog_is_asked_over_ten_intervals_with_both_keys() -> None:
    async with Datadog(TOKEN) as server:
        await sent("datadog", server)
    request = server.first("/api/v1/query")
    assert int(request.query["to"]) - int(request.query["from"]) == 600
    assert request.query["query"].endswith("{destination_workload:podinfo}.as_count()")
    assert request.headers["DD-API-KEY"] == TOKEN
    assert request.headers["DD-APPLICATION-KEY"] == "app-key"
    assert server.last("/api/v1/validate").method == "GET"


async def test_new_relic_gets_the_nrql_since_one_interval() -> None:
    async with NewRelic(TOKEN) as server:
        await sent("newrelic", server)
    request = server.first("/v1/accounts/1234567/query")
    assert request.query["nrql"].endswith("WHERE appName = 'podinfo' SINCE 60 seconds ago")
    assert request.headers["X-Query-Key"] == TOKEN
    online = server.last("/v1/accounts/1234567/query")
    assert online.query["nrql"] == "SELECT * FROM Metric SINCE 60 seconds ago"


async def test_dynatrace_is_asked_one_value_over_ten_intervals() -> None:
    async with Dynatrace(TOKEN) as server:
        await sent("dynatrace", server)
    request = server.first("/api/v2/metrics/query")
    assert int(request.query["to"]) - int(request.query["from"]) == 600_000
    assert request.query["resolution"] == "Inf"
    assert request.query["metricSelector"].endswith('"podinfo"))')
    assert request.headers["Authorization"] == f"Api-Token {TOKEN}"
    assert server.last("/api/v2/metrics").query == {"pageSize": "1"}


async def test_cloud_monitoring_gets_the_mql_with_a_token_from_the_service_account() -> None:
    async with CloudMonitoring("kanaria@test.iam") as server:
        await sent("stackdriver", server)
    token_request = server.last("/token")
    request = server.first("/v3/projects/kanaria-test/timeSeries:query")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in token_request.body
    assert json.loads(request.body)["query"].endswith("== 'test' | within 1m")
    assert request.headers["Authorization"] == f"Bearer {server.issued}"
    online = server.last("/v3/projects/kanaria-test/timeSeries:query")
    assert json.loads(online.body) == {"query": ""}, "availability: an empty query, refused"


async def test_signalflow_runs_the_program_over_ten_intervals_immediately() -> None:
    async with SignalFx(TOKEN) as server:
        await sent("splunk", server)
    [program] = server.programs
    assert program["stop"] - program["start"] == 600_000
    assert program["immediate"] is True
    assert program["program"].startswith("data('requests.error.rate'")
    assert server.last("/v2/metric").headers["X-SF-Token"] == TOKEN


async def test_signalflow_reads_compressed_data_messages() -> None:
    async with SignalFx(TOKEN, compress=True) as server:
        await sent("splunk", server)


async def test_the_external_metrics_api_gets_namespace_metric_and_selector() -> None:
    async with ExternalMetricsAdapter(TOKEN) as server:
        await sent("externalmetrics", server)
    request = server.last("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/success-rate")
    assert request.query == {"labelSelector": "app=podinfo"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_influxdb_gets_flux_for_annotated_csv_in_the_org() -> None:
    async with InfluxDB2(TOKEN) as server:
        await sent("influxdb", server)
    request = server.first("/api/v2/query")
    body = json.loads(request.body)
    assert request.query == {"org": "kanaria"}
    assert body["type"] == "flux"
    assert body["query"].endswith('r.workload == "podinfo") |> mean()')
    assert body["dialect"]["annotations"] == ["datatype", "group", "default"]
    assert request.headers["Authorization"] == f"Token {TOKEN}"
