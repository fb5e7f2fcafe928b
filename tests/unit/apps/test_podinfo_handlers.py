"""podinfo's handlers and middlewares, called with mocked requests (no socket)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from kanaria.apps.podinfo import app as podinfo
from kanaria.apps.podinfo.config import Settings
from kanaria.apps.podinfo.metrics import AppMetrics


def _request(
    state: podinfo.AppState,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    match_info: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Request:
    application = podinfo.build_api_app(state)
    payload = StreamReader(mock.Mock(), 2**16, loop=mock.Mock())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request(
        method, path, headers, app=application, payload=payload, match_info=match_info or {}
    )


def _json(response: web.StreamResponse) -> Any:
    assert isinstance(response, web.Response)
    assert response.text is not None
    return json.loads(response.text)


@pytest.fixture
def state() -> podinfo.AppState:
    return podinfo.AppState(Settings(version="3.1.1", ui_color="#abcdef"), hostname="pod-1")


async def test_index_reports_the_version_and_host(state: podinfo.AppState) -> None:
    body = _json(await podinfo.info(_request(state, "GET", "/")))
    assert body["version"] == "3.1.1"
    assert body["hostname"] == "pod-1"
    assert body["message"] == "greetings from podinfo v3.1.1"
    assert body["color"] == "#abcdef"
    expected = {"revision", "logo", "goos", "goarch", "runtime", "num_goroutine", "num_cpu"}
    assert expected <= body.keys()


async def test_version(state: podinfo.AppState) -> None:
    body = _json(await podinfo.version(_request(state, "GET", "/version")))
    assert body == {"version": "3.1.1", "commit": "local"}


@pytest.mark.parametrize(("code", "expected"), [("200", 200), ("418", 418), ("503", 503)])
async def test_status_answers_the_asked_code(
    state: podinfo.AppState, code: str, expected: int
) -> None:
    response = await podinfo.status(
        _request(state, "GET", f"/status/{code}", match_info={"code": code})
    )
    assert response.status == expected


@pytest.mark.parametrize("code", ["abc", "99", "600"])
async def test_status_refuses_what_is_not_a_status(state: podinfo.AppState, code: str) -> None:
    request = _request(state, "GET", f"/status/{code}", match_info={"code": code})
    assert (await podinfo.status(request)).status == 400


@pytest.mark.parametrize("seconds", ["-1", "x", "100000"])
async def test_delay_refuses_bad_durations(state: podinfo.AppState, seconds: str) -> None:
    request = _request(state, "GET", f"/delay/{seconds}", match_info={"seconds": seconds})
    assert (await podinfo.delay(request)).status == 400


async def test_delay_of_zero_answers_at_once(state: podinfo.AppState) -> None:
    request = _request(state, "GET", "/delay/0", match_info={"seconds": "0"})
    assert _json(await podinfo.delay(request)) == {"delay": 0.0}


async def test_token_is_named_after_the_body(state: podinfo.AppState) -> None:
    response = await podinfo.issue_token(_request(state, "POST", "/token", body=b"test"))
    body = _json(response)
    assert {"token", "expires_at"} <= body.keys()
    assert state.tokens.check(body["token"], datetime.now(UTC)).name == "test"


async def test_token_validation_needs_a_bearer_header(state: podinfo.AppState) -> None:
    request = _request(state, "GET", "/token/validate")
    assert (await podinfo.validate_token(request)).status == 401


async def test_readiness_can_be_switched_off_and_on(state: podinfo.AppState) -> None:
    readyz = podinfo._probe("ready")
    assert (await readyz(_request(state, "GET", "/readyz"))).status == 200
    switch_off = podinfo._probe_switch("ready", False)
    assert (await switch_off(_request(state, "POST", "/readyz/disable"))).status == 202
    assert (await readyz(_request(state, "GET", "/readyz"))).status == 503
    await podinfo._probe_switch("ready", True)(_request(state, "POST", "/readyz/enable"))
    assert (await readyz(_request(state, "GET", "/readyz"))).status == 200


async def test_unready_flag_starts_with_readyz_failing() -> None:
    state = podinfo.AppState(Settings(unready=True))
    response = await podinfo._probe("ready")(_request(state, "GET", "/readyz"))
    assert response.status == 503


async def test_echo_sends_the_body_back(state: podinfo.AppState) -> None:
    response = await podinfo.echo(_request(state, "POST", "/echo", body=b"hello"))
    assert isinstance(response, web.Response)
    assert (response.status, response.body) == (202, b"hello")


async def test_headers_are_listed(state: podinfo.AppState) -> None:
    request = _request(state, "GET", "/headers", headers={"x-CANARY": "yes"})
    assert _json(await podinfo.headers(request))["X-Canary"] == ["yes"]


async def test_random_errors_answer_500_without_calling_the_handler() -> None:
    state = podinfo.AppState(Settings(random_error=True, random_error_rate=1.0))
    handler = mock.AsyncMock()
    response = await podinfo.inject_faults(_request(state, "GET", "/"), handler)
    assert response.status == 500
    handler.assert_not_called()


def test_metrics_carry_podinfo_names_and_labels() -> None:
    metrics = AppMetrics()
    metrics.observe("GET", "/", 200, 0.003)
    metrics.observe("GET", "/", 500, 0.2)
    text = metrics.exposition().decode()
    assert 'http_requests_total{status="500"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",path="/",status="200"} 1.0' in text
    assert "process_resident_memory_bytes" in text
