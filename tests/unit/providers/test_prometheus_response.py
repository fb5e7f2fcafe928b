"""Reading Prometheus's `/api/v1/query` answers: one value, or the outcome that explains why not.

Canned bodies in the exact shape Prometheus 2 sends; no sockets.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from kanaria import errors
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.prometheus import parse_query_response


def success(result_type: str, result: Any) -> bytes:
    return json.dumps(
        {"status": "success", "data": {"resultType": result_type, "result": result}}
    ).encode()


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1700000000.123, value]}


def failure(error_type: str, error: str) -> bytes:
    return json.dumps({"status": "error", "errorType": error_type, "error": error}).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (success("vector", [sample("99.5")]), 99.5),
        (success("vector", [sample("0")]), 0.0),
        (success("vector", [sample("1", __name__="up", job="x")]), 1.0),
        (success("scalar", [1700000000.1, "6"]), 6.0),
        (success("vector", [sample("+Inf")]), math.inf),
        (success("vector", [sample("-Inf")]), -math.inf),
        (success("vector", [sample("1e3")]), 1000.0),
    ],
    ids=["vector", "zero", "labelled", "scalar", "inf", "minus-inf", "exponent"],
)
def test_one_value_is_returned(body: bytes, expected: float) -> None:
    assert parse_query_response(200, body) == expected


def test_an_empty_vector_means_no_values() -> None:
    with pytest.raises(NoValuesError, match=r"no values found: .*empty"):
        parse_query_response(200, success("vector", []))


@pytest.mark.parametrize("result_type", ["vector", "scalar"])
def test_nan_means_no_values(result_type: str) -> None:
    body = success(result_type, [sample("NaN")] if result_type == "vector" else [1.0, "NaN"])
    with pytest.raises(NoValuesError, match="NaN"):
        parse_query_response(200, body)


def test_no_values_is_retried_not_a_config_error() -> None:
    assert issubclass(NoValuesError, errors.TemporaryError)
    assert not issubclass(NoValuesError, errors.ConfigError)


def test_several_series_are_named() -> None:
    body = success(
        "vector",
        [
            sample("1", destination_workload="podinfo", response_code="200"),
            sample("2", destination_workload="podinfo-primary", response_code="200"),
        ],
    )
    with pytest.raises(MultipleValuesError) as caught:
        parse_query_response(200, body)
    message = str(caught.value)
    assert "2 series" in message
    assert '{destination_workload="podinfo", response_code="200"}' in message
    assert 'destination_workload="podinfo-primary"' in message


def test_many_series_are_summarised() -> None:
    body = success("vector", [sample("1", pod=f"p{index}") for index in range(8)])
    with pytest.raises(MultipleValuesError, match=r'pod="p4"\} and 3 more$'):
        parse_query_response(200, body)


def test_a_range_vector_is_several_values() -> None:
    body = success("matrix", [{"metric": {}, "values": [[1.0, "1"], [2.0, "2"]]}])
    with pytest.raises(MultipleValuesError, match="range vector"):
        parse_query_response(200, body)


def test_a_string_result_is_not_a_number() -> None:
    with pytest.raises(QueryError, match="string"):
        parse_query_response(200, success("string", [1.0, "hello"]))


@pytest.mark.parametrize("status", [400, 422])
def test_a_rejected_query_carries_prometheus_error_text(status: int) -> None:
    body = failure("bad_data", "1:5: parse error: unclosed left parenthesis")
    with pytest.raises(QueryError, match="bad_data: 1:5: parse error: unclosed left parenthesis"):
        parse_query_response(status, body)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, failure("timeout", "query timed out"), r"HTTP 503\): timeout: query timed out"),
        (500, failure("internal", "boom"), r"HTTP 500\): internal: boom"),
        (502, b"<html>Bad Gateway</html>", r"HTTP 502\): <html>Bad Gateway</html>"),
        (404, b"404 page not found", r"not a Prometheus query API \(HTTP 404\)"),
        (200, b"<html>hello</html>", r"not a Prometheus query API \(HTTP 200\)"),
        (200, b'{"status": "success", "data": {}}', "unexpected shape"),
        (200, success("vector", [{"metric": {}}]), "unexpected shape"),
        (200, success("vector", [sample("abc")]), "unexpected shape"),
    ],
    ids=["timeout", "internal", "bad-gateway", "not-found", "html", "no-data", "no-value", "text"],
)
def test_server_trouble_is_unavailability(status: int, body: bytes, message: str) -> None:
    with pytest.raises(ProviderUnavailableError, match=message):
        parse_query_response(status, body, source="Prometheus at http://prom")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_point_at_the_secret(status: int) -> None:
    with pytest.raises(ProviderAuthError, match=f"refused the credentials \\(HTTP {status}\\)"):
        parse_query_response(status, b"Unauthorized")


def test_messages_name_the_server() -> None:
    with pytest.raises(ProviderUnavailableError, match=r"^Prometheus at http://prom:9090 failed"):
        parse_query_response(503, b"", source="Prometheus at http://prom:9090")


def test_long_bodies_are_cut_in_messages() -> None:
    with pytest.raises(ProviderUnavailableError) as caught:
        parse_query_response(502, b"x" * 10_000)
    assert len(str(caught.value)) < 300
