"""Every backend's configuration and its reading of answers, without a socket: Flagger's
fields and Secret keys, the requests and windows it sends, and each answer's outcome."""

from __future__ import annotations

import gzip
import math
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from kanaria import errors
from kanaria.providers import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    QueryError,
    cloudwatch,
    datadog,
    dynatrace,
    externalmetrics,
    graphite,
    influxdb,
    newrelic,
    registry,
    splunk,
    stackdriver,
)
from kanaria.providers.http import Answer, HttpBackend
from kanaria.spec.templates import METRIC_PROVIDER_TYPES

NOW = 1_700_000_000.0


def settings(**fields: Any) -> ProviderSettings:
    return ProviderSettings(**{"interval": 60.0, "secret_name": "creds.test", **fields})


# --- the registry: every type Flagger knows ---------------------------------------------------


def test_every_flagger_type_has_a_provider() -> None:
    assert set(registry.PROVIDERS) == set(METRIC_PROVIDER_TYPES)


def test_an_unknown_type_lists_every_known_one() -> None:
    with pytest.raises(errors.ConfigError, match="unknown metrics provider type 'datdog'") as info:
        registry.provider_for("datdog", settings())
    assert all(name in str(info.value) for name in METRIC_PROVIDER_TYPES)


@pytest.mark.parametrize(
    ("type_name", "fields", "message"),
    [
        ("datadog", {}, "datadog needs provider.secretRef naming a Secret with `datadog_api_key`"),
        ("datadog", {"secret": {"datadog_api_key": "k"}},
         "datadog credentials in Secret creds.test do not contain `datadog_application_key` "
         r"\(keys present: datadog_api_key\)"),
        ("datadog", {"secret": {"datadog_api_key": "k", "datadog_application_key": "a"},
                     "interval": None}, "datadog queries look back 10 × the metric's interval"),
        ("newrelic", {"secret": {"newrelic_query_key": "k"}}, "`newrelic_account_id`"),
        ("newrelic", {"secret": {"newrelic_query_key": "k", "newrelic_account_id": "abc"}},
         "is not a numeric account id"),
        ("dynatrace", {"secret": {"dynatrace_token": "t"}}, "dynatrace endpoint is not set"),
        ("dynatrace", {"address": "https://x.live.dynatrace.com", "secret": {}},
         "`dynatrace_token`"),
        ("graphite", {"address": ""}, "graphite address '' is not a valid URL"),
        ("graphite", {"address": "http://g", "secret": {"username": "u"}}, "`password`"),
        ("influxdb", {"address": "http://i", "secret": {"token": "t"}}, "`org`"),
        ("splunk", {"secret": {"sf_token_key": "t"}}, "splunk endpoint is not set"),
        ("cloudwatch", {}, "cloudwatch: region not specified"),
        ("cloudwatch", {"region": "eu-west-1", "secret": {"aws_access_key_id": "AKIA"}},
         "`aws_secret_access_key`"),
        ("stackdriver", {"secret": {"serviceAccountKey": "{}"}}, "`project`"),
        ("stackdriver", {"secret": {"project": "p", "serviceAccountKey": "not json"}},
         "`serviceAccountKey` in Secret creds.test is not a service account JSON key"),
        ("keptn", {}, "could not initialize KeptnProvider"),
    ],
)  # fmt: skip
def test_a_misconfigured_template_names_what_is_missing(
    type_name: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.ConfigError, match=message) as info:
        registry.provider_for(type_name, settings(**fields))
    assert "not json" not in str(info.value)


def test_secret_values_never_show_in_the_settings_repr() -> None:
    assert "hunter2" not in repr(settings(secret={"token": "hunter2"}))


# --- the shared HTTP boundary ----------------------------------------------------------------


def test_refusals_never_carry_a_secret_and_say_when_to_retry() -> None:
    http = HttpBackend("X", "http://x", secrets=["hunter2"])
    echoed = Answer(401, b'{"message": "bad token hunter2"}', {})
    refused = http.refusal(echoed, credentials="`token` in Secret s.t")
    assert "hunter2" not in str(refused)
    assert "<redacted>" in str(refused)
    limited = http.refusal(
        Answer(429, b'{"errors": ["slow down"]}', {"retry-after": "30"}), credentials=""
    )
    assert "rate limiting requests (HTTP 429); retry after 30 s: slow down" in str(limited)
    reset = http.refusal(Answer(429, b"", {"x-ratelimit-reset": "17"}), credentials="")
    assert "X-RateLimit-Reset: 17" in str(reset)


# --- datadog ---------------------------------------------------------------------------------


def datadog_series(*points: list[Any], scope: str = "host:a") -> dict[str, Any]:
    return {"scope": scope, "pointlist": list(points)}


def test_datadog_reads_the_first_non_null_point_of_its_one_series() -> None:
    payload = {"status": "ok", "series": [datadog_series([1, None], [2, 98.0], [3, 99.0])]}
    assert datadog.series_value(payload) == 98.0


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        ({"status": "ok", "series": []}, NoValuesError),
        ({"status": "ok", "series": [datadog_series([1, None])]}, NoValuesError),
        ({"status": "ok", "series": [datadog_series([1, 1.0]), datadog_series([1, 2.0])]},
         MultipleValuesError),
        ({"status": "error", "error": "bad query"}, QueryError),
    ],
)  # fmt: skip
def test_datadog_answers_without_one_value(payload: dict[str, Any], outcome: type) -> None:
    with pytest.raises(outcome):
        datadog.series_value(payload)


def test_datadog_looks_back_ten_intervals_in_seconds() -> None:
    secret = {"datadog_api_key": "k", "datadog_application_key": "a"}
    provider = datadog.DatadogProvider(settings(secret=secret, interval=30.0), now=lambda: NOW)
    assert provider.query_params("avg:x{*}") == {
        "from": str(int(NOW) - 300), "query": "avg:x{*}", "to": str(int(NOW))
    }  # fmt: skip


# --- new relic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        ({"results": []}, NoValuesError),
        ({"results": [{"result": None}]}, NoValuesError),
        ({"results": [{"result": 1}, {"result": 2}]}, MultipleValuesError),
        ({"results": [{"count": 12}]}, QueryError),
    ],
)
def test_new_relic_answers_without_one_result(payload: dict[str, Any], outcome: type) -> None:
    with pytest.raises(outcome):
        newrelic.result_value(payload)


def test_new_relic_reads_result_and_appends_since_one_interval() -> None:
    assert newrelic.result_value({"results": [{"result": 99.1}]}) == 99.1
    secret = {"newrelic_account_id": "42", "newrelic_query_key": "k"}
    provider = newrelic.NewRelicProvider(settings(secret=secret, interval=90.0))
    assert provider.nrql("SELECT x FROM T") == "SELECT x FROM T SINCE 90 seconds ago"
    with pytest.raises(QueryError, match=r"keys: count\)"):
        newrelic.result_value({"results": [{"count": 3}]})


# --- dynatrace -------------------------------------------------------------------------------


def test_dynatrace_asks_one_value_over_ten_intervals_in_milliseconds() -> None:
    provider = dynatrace.DynatraceProvider(
        settings(address="https://env", secret={"dynatrace_token": "t"}), now=lambda: NOW + 0.7
    )
    params = provider.query_params("builtin:x")
    assert int(params["to"]) == int(NOW) * 1000
    assert int(params["to"]) - int(params["from"]) == 600_000
    assert params["resolution"] == "Inf"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"result": [{"data": [{"values": [12.5]}]}]}, 12.5),
        ({"result": [{"data": [{"values": [None, 3.0]}]}]}, 3.0),
        ({"result": []}, NoValuesError),
        ({"result": [{"data": []}]}, NoValuesError),
        ({"result": [{"data": [{"values": [None]}]}]}, NoValuesError),
        ({"result": [{"data": [{"values": [1]}, {"values": [2]}]}]}, MultipleValuesError),
        ({"result": [{"data": []}, {"data": []}]}, MultipleValuesError),
    ],
)
def test_dynatrace_answers(payload: dict[str, Any], expected: float | type) -> None:
    if isinstance(expected, float):
        assert dynatrace.metric_value(payload) == expected
    else:
        with pytest.raises(expected):
            dynatrace.metric_value(payload)


# --- graphite --------------------------------------------------------------------------------


def test_graphite_sorts_parameters_and_forces_json() -> None:
    params = graphite.render_params("target=sumSeries(a.*)&until=now&from=-5min&format=png")
    assert params == [("format", "json"), ("from", "-5min"), ("target", "sumSeries(a.*)"),
                      ("until", "now")]  # fmt: skip


def test_graphite_needs_a_target() -> None:
    with pytest.raises(QueryError, match="no `target=`"):
        graphite.render_params("from=-5min")


def test_graphite_reads_the_last_non_null_point_numbers_or_strings() -> None:
    series = [{"target": "a", "datapoints": [[1.0, 1], ["2.5", 2], [None, 3], [math.nan, 4]]}]
    assert graphite.last_value(series) == 2.5
    with pytest.raises(MultipleValuesError, match="a, b"):
        graphite.last_value([{"target": "a", "datapoints": []}, {"target": "b", "datapoints": []}])
    with pytest.raises(NoValuesError):
        graphite.last_value([{"target": "a", "datapoints": [[None, 1]]}])


# --- influxdb --------------------------------------------------------------------------------

CSV_HEAD = (
    "#datatype,string,long,dateTime:RFC3339,{kind},string\r\n"
    "#group,false,false,false,false,true\r\n"
    "#default,_result,,,,\r\n"
    ",result,table,_time,_value,_field\r\n"
)


def test_influxdb_reads_the_value_of_the_one_record() -> None:
    text = CSV_HEAD.format(kind="double") + ",,0,2026-01-01T00:00:00Z,99.5,rate\r\n"
    [record] = influxdb.flux_records(text)
    assert record["result"].text == "_result", "an empty cell takes the #default"
    assert influxdb.record_value([record]) == 99.5


def test_influxdb_accepts_integers_and_refuses_strings() -> None:
    count = CSV_HEAD.format(kind="long") + ",,0,2026-01-01T00:00:00Z,42,n\r\n"
    assert influxdb.record_value(influxdb.flux_records(count)) == 42
    word = CSV_HEAD.format(kind="string") + ",,0,2026-01-01T00:00:00Z,up,n\r\n"
    with pytest.raises(QueryError, match="_value is a string"):
        influxdb.record_value(influxdb.flux_records(word))


def test_influxdb_outcomes_for_no_record_null_and_several_tables() -> None:
    with pytest.raises(NoValuesError, match="no record"):
        influxdb.record_value(influxdb.flux_records(""))
    null = CSV_HEAD.format(kind="double") + ",,0,2026-01-01T00:00:00Z,,rate\r\n"
    with pytest.raises(NoValuesError, match="null"):
        influxdb.record_value(influxdb.flux_records(null))
    one = CSV_HEAD.format(kind="double") + ",,0,2026-01-01T00:00:00Z,1,a\r\n"
    with pytest.raises(MultipleValuesError, match="2 records"):
        influxdb.record_value(influxdb.flux_records(one + "\r\n" + one.replace(",,0,", ",,1,")))


def test_influxdb_error_tables_are_query_errors() -> None:
    text = (
        "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n"
        ',"panic: runtime error: bucket ""x"" not found",897\r\n'
    )
    with pytest.raises(QueryError, match='bucket "x" not found'):
        influxdb.flux_records(text)


# --- stackdriver -----------------------------------------------------------------------------


def google_series(*values: dict[str, Any]) -> dict[str, Any]:
    return {"labelValues": [{"stringValue": "s"}], "pointData": [{"values": list(values)}]}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"timeSeriesData": [google_series({"doubleValue": 0.25})]}, 0.25),
        ({"timeSeriesData": [google_series({"int64Value": "12"})]}, 12.0),
        ({"timeSeriesData": [google_series({"boolValue": True})]}, 1.0),
        ({"timeSeriesDescriptor": {}}, NoValuesError),
        ({"timeSeriesData": [{"pointData": []}]}, NoValuesError),
        ({"timeSeriesData": [google_series({"doubleValue": 1}), google_series()]},
         MultipleValuesError),
        ({"timeSeriesData": [google_series({"distributionValue": {}})]}, QueryError),
    ],
)  # fmt: skip
def test_cloud_monitoring_answers(payload: dict[str, Any], expected: float | type) -> None:
    if isinstance(expected, float):
        assert stackdriver.series_value(payload) == expected
    else:
        with pytest.raises(expected):
            stackdriver.series_value(payload)


# --- splunk ----------------------------------------------------------------------------------


def data_message(points: list[tuple[int, int, bytes]], channel: str = "kanaria", flags: int = 0,
                 compress: bool = False) -> bytes:  # fmt: skip
    body = struct.pack(">QI", 0, len(points)) + b"".join(
        struct.pack(">Bq8s", kind, tsid, raw) for kind, tsid, raw in points
    )
    if compress:
        body = gzip.compress(body)
    return struct.pack(">BBBx16s", 1, 5, flags, channel.encode()) + body


def test_signalflow_binary_messages_decode_every_value_type() -> None:
    message = data_message(
        [(1, 7, struct.pack(">q", -3)), (2, 7, struct.pack(">d", 2.5)),
         (3, 7, struct.pack(">i", 9) + bytes(4)), (9, 7, bytes(8))],
        flags=1, compress=True,
    )  # fmt: skip
    channel, points = splunk.decode_binary(message)  # type: ignore[misc]
    assert channel == "kanaria"
    assert [point.value for point in points] == [-3.0, 2.5, 9.0, None]


def test_signalflow_outcomes() -> None:
    one = [splunk.Datapoint(1, 1.0), splunk.Datapoint(1, None), splunk.Datapoint(1, 4.0)]
    assert splunk.program_value(one) == 4.0
    with pytest.raises(NoValuesError):
        splunk.program_value([splunk.Datapoint(1, None)])
    with pytest.raises(MultipleValuesError, match="2 time series"):
        splunk.program_value([splunk.Datapoint(1, 1.0), splunk.Datapoint(2, 1.0)])


def test_signalflow_urls_follow_the_realm() -> None:
    from yarl import URL  # noqa: PLC0415

    api = URL("https://api.us1.signalfx.com")
    assert str(splunk.stream_url(api)) == "wss://stream.us1.signalfx.com/v2/signalflow"
    assert (
        str(splunk.api_url(URL("wss://stream.eu0.signalfx.com"))) == "https://api.eu0.signalfx.com"
    )


def test_signalflow_runs_over_ten_intervals() -> None:
    provider = splunk.SplunkProvider(
        settings(address="https://api.us1.signalfx.com", secret={"sf_token_key": "t"}),
        now=lambda: NOW,
    )
    request = provider.execute_request("data('x').publish()")
    assert request["stop"] - request["start"] == 600_000
    assert request["immediate"] is True


# --- cloudwatch ------------------------------------------------------------------------------


def test_cloudwatch_queries_take_any_key_case() -> None:
    queries = cloudwatch.metric_data_queries(
        '[{"id": "e", "metricStat": {"metric": {"namespace": "N", "metricName": "M", '
        '"dimensions": [{"name": "A", "value": "B"}]}, "period": 60, "stat": "Sum"}, '
        '"returnData": true}]'
    )
    assert queries == [{"Id": "e", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M",
                        "Dimensions": [{"Name": "A", "Value": "B"}]}, "Period": 60, "Stat": "Sum"},
                        "ReturnData": True}]  # fmt: skip


@pytest.mark.parametrize("query", ["not json", '{"Id": "x"}', "[1]"])
def test_cloudwatch_queries_must_be_a_json_array_of_objects(query: str) -> None:
    with pytest.raises(QueryError):
        cloudwatch.metric_data_queries(query)


def test_cloudwatch_looks_back_ten_intervals() -> None:
    provider = cloudwatch.CloudWatchProvider(settings(region="eu-west-1"), now=lambda: NOW)
    request = provider.request('[{"Id": "e", "Expression": "1"}]')
    assert request["EndTime"] == datetime.fromtimestamp(NOW, UTC)
    assert (request["EndTime"] - request["StartTime"]).total_seconds() == 600
    assert request["MaxDatapoints"] == 20


def test_cloudwatch_reads_the_newest_value_of_the_one_result() -> None:
    assert cloudwatch.first_value({"MetricDataResults": [{"Id": "e", "Values": [3.0, 9.0]}]}) == 3
    with pytest.raises(MultipleValuesError, match="a, b"):
        cloudwatch.first_value({"MetricDataResults": [{"Id": "a"}, {"Id": "b"}]})
    with pytest.raises(NoValuesError):
        cloudwatch.first_value({"MetricDataResults": [{"Id": "a", "Values": []}]})


# --- external metrics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "value"),
    [("123m", 0.123), ("1.5k", 1500.0), ("2Gi", 2.0 * 2**30), ("1e3", 1000.0), ("42", 42.0),
     ("-5", -5.0), (".5", 0.5), ("7n", 7e-9)],
)  # fmt: skip
def test_kubernetes_quantities(quantity: str, value: float) -> None:
    assert externalmetrics.quantity_value(quantity) == pytest.approx(value)


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        ("rate", ("default", "rate", "")),
        ("/rate", ("default", "rate", "")),
        ("test/rate?labelSelector=app%3Dpodinfo%2Cenv%3Dprod",
         ("test", "rate", "app=podinfo,env=prod")),
    ],
)  # fmt: skip
def test_external_metric_queries(query: str, parsed: tuple[str, str, str]) -> None:
    assert externalmetrics.parse_query(query) == parsed


@pytest.mark.parametrize(("query", "message"), [("a/b/c", "too many slashes"), ("test/", "empty")])
def test_external_metric_queries_refused(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        externalmetrics.parse_query(query)


def test_external_metric_items() -> None:
    assert externalmetrics.item_value({"items": [{"value": "995m"}]}) == pytest.approx(0.995)
    with pytest.raises(NoValuesError):
        externalmetrics.item_value({"items": []})
    with pytest.raises(MultipleValuesError):
        externalmetrics.item_value({"items": [{"value": "1"}, {"value": "2"}]})
