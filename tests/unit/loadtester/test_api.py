"""The load tester's HTTP answers, called with mocked requests and a fake spawner (no socket)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from kanaria.loadtester import server
from kanaria.loadtester.gates import Gates
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult
from kanaria.loadtester.runner import TaskRunner


class ScriptedSpawner:
    """Answers every command with one result, at once."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.argvs: list[list[str]] = []

    async def run(self, argv: Sequence[str], time_limit: float) -> CommandResult:
        self.argvs.append(list(argv))
        return self.result


def _tester(
    result: CommandResult | None = None, namespaces: str | None = None
) -> server.LoadTester:
    metrics = LoadTesterMetrics()
    spawner = ScriptedSpawner(result or CommandResult(exit_code=0, output=b"token ok\n"))
    runner = TaskRunner(spawner, metrics=metrics)
    pattern = re.compile(namespaces) if namespaces else None
    return server.LoadTester(runner, Gates(), metrics, pattern)


async def _post(tester: server.LoadTester, path: str, document: object) -> web.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    app = server.build_app(tester)
    payload = StreamReader(mock.Mock(), 2**16, loop=mock.Mock())
    payload.feed_data(body)
    payload.feed_eof()
    request = make_mocked_request("POST", path, app=app, payload=payload)
    match = await app.router.resolve(request)
    handler = server.shutting_down_is_503
    try:
        response = await handler(request, match.handler)
    except web.HTTPException as exc:
        return web.Response(status=exc.status, text=exc.text)
    assert isinstance(response, web.Response)
    return response


def _hook(metadata: dict[str, str] | None, namespace: str = "test") -> dict[str, object]:
    document: dict[str, object] = {
        "name": "podinfo",
        "namespace": namespace,
        "phase": "Progressing",
    }
    if metadata is not None:
        document["metadata"] = metadata
    return document


async def test_bash_success_returns_the_output_when_asked() -> None:
    metadata = {"type": "bash", "cmd": "curl ... | grep token", "returnCmdOutput": "true"}
    response = await _post(_tester(), "/", _hook(metadata))
    assert (response.status, response.text) == (200, "token ok\n")


async def test_bash_success_keeps_the_output_unless_asked() -> None:
    response = await _post(_tester(), "/", _hook({"type": "bash", "cmd": "true"}))
    assert (response.status, response.text) == (200, "")


async def test_bash_failure_is_500_with_the_reason_and_output() -> None:
    tester = _tester(CommandResult(exit_code=1, output=b"connection refused\n"))
    response = await _post(tester, "/", _hook({"type": "bash", "cmd": "curl http://x/"}))
    assert response.status == 500
    assert response.text == "command exit status 1: curl http://x/\nconnection refused\n"


async def test_cmd_is_accepted_at_once_and_deduplicated() -> None:
    tester = _tester()
    hook = _hook({"cmd": "hey -z 1m http://podinfo-canary.test:9898/"})
    first = await _post(tester, "/", hook)
    second = await _post(tester, "/", hook)
    assert (first.status, first.text) == (202, "started\n")
    assert (second.status, second.text) == (202, "already running\n")


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        (b"{", 400, "not valid JSON"),
        (_hook(None), 400, "metadata is missing"),
        (_hook({"type": "bash"}), 400, "metadata.cmd is missing"),
        (_hook({"type": "kubectl", "cmd": "get pods"}), 400, "'kubectl' is not supported"),
        (_hook({"cmd": "true"}, namespace="prod"), 403, "namespace 'prod' is not allowed"),
    ],
)
async def test_refusals_say_why(document: object, status: int, reason: str) -> None:
    response = await _post(_tester(namespaces="^test$"), "/", document)
    assert response.status == status
    assert response.text is not None
    assert reason in response.text


async def test_namespace_pattern_is_unanchored_like_go() -> None:
    response = await _post(_tester(namespaces="test"), "/", _hook({"cmd": "true"}, "e2e-test-1"))
    assert response.status == 202


async def test_gates_start_closed_and_follow_open_and_close() -> None:
    tester = _tester()
    canary = {"name": "podinfo", "namespace": "test"}
    assert (await _post(tester, "/gate/check", canary)).status == 403
    assert (await _post(tester, "/gate/open", canary)).status == 202
    assert (await _post(tester, "/gate/check", canary)).status == 200
    other = {"name": "podinfo", "namespace": "prod"}
    assert (await _post(tester, "/gate/check", other)).status == 403
    assert (await _post(tester, "/gate/close", canary)).status == 202
    assert (await _post(tester, "/gate/check", canary)).status == 403


async def test_rollback_gate_is_apart_from_the_promotion_gate() -> None:
    tester = _tester()
    canary = {"name": "podinfo", "namespace": "test"}
    await _post(tester, "/gate/open", canary)
    assert (await _post(tester, "/rollback/check", canary)).status == 403
    assert (await _post(tester, "/rollback/open", canary)).status == 202
    assert (await _post(tester, "/rollback/check", canary)).status == 200
    await _post(tester, "/rollback/close", canary)
    assert (await _post(tester, "/rollback/check", canary)).status == 403


@pytest.mark.parametrize(("path", "status"), [("/gate/approve", 200), ("/gate/halt", 403)])
async def test_fixed_gates(path: str, status: int) -> None:
    assert (await _post(_tester(), path, {"name": "podinfo", "namespace": "test"})).status == status


async def test_a_gate_needs_a_name_and_namespace() -> None:
    response = await _post(_tester(), "/gate/open", {"name": "podinfo"})
    assert response.status == 400


async def test_commands_refused_during_shutdown_are_503() -> None:
    tester = _tester()
    await tester.runner.shutdown(grace=0)
    response = await _post(tester, "/", _hook({"type": "bash", "cmd": "true"}))
    assert response.status == 503
