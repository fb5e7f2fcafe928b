"""The load tester's HTTP answers, called with mocked requests and a fake spawner (no socket)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Mapping, Sequence
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from kanaria.loadtester import server
from kanaria.loadtester.commands import CommandPolicy
from kanaria.loadtester.gates import Gates
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult
from kanaria.loadtester.runner import TaskRunner


class ScriptedSpawner:
    """Answers every command with one result, at once."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.runs: list[list[list[str]]] = []

    async def run(self, stages: Sequence[Sequence[str]], time_limit: float) -> CommandResult:
        self.runs.append([list(stage) for stage in stages])
        return self.result


JSON = {"Content-Type": "application/json"}


def _tester(
    result: CommandResult | None = None,
    namespaces: str | None = None,
    token: str | None = None,
    policy: CommandPolicy | None = None,
) -> server.LoadTester:
    metrics = LoadTesterMetrics()
    spawner = ScriptedSpawner(result or CommandResult(exit_code=0, output=b"token ok\n"))
    runner = TaskRunner(spawner, metrics=metrics, policy=policy or CommandPolicy.of(["grep"]))
    pattern = re.compile(namespaces) if namespaces else None
    return server.LoadTester(runner, Gates(), metrics, pattern, token)


def _runs(tester: server.LoadTester) -> list[list[list[str]]]:
    spawner = tester.runner._spawner
    assert isinstance(spawner, ScriptedSpawner)
    return spawner.runs


async def _post(
    tester: server.LoadTester,
    path: str,
    document: object,
    headers: Mapping[str, str] = JSON,
    method: str = "POST",
) -> web.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    app = server.build_app(tester)
    payload = StreamReader(mock.Mock(), 2**16, loop=mock.Mock())
    payload.feed_data(body)
    payload.feed_eof()
    request = make_mocked_request(method, path, headers=headers, app=app, payload=payload)
    match = await app.router.resolve(request)
    try:
        response = await server.guard(
            request, lambda req: server.shutting_down_is_503(req, match.handler)
        )
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


SEED_ACCEPTANCE = "curl -sd 'test' http://podinfo-canary:9898/token | grep token"


async def test_the_seeds_acceptance_test_runs_as_a_pipeline_without_a_shell() -> None:
    tester = _tester()
    metadata = {"type": "bash", "cmd": SEED_ACCEPTANCE, "returnCmdOutput": "true"}
    response = await _post(tester, "/", _hook(metadata))
    assert (response.status, response.text) == (200, "token ok\n")
    assert _runs(tester) == [
        [["curl", "-sd", "test", "http://podinfo-canary:9898/token"], ["grep", "token"]]
    ]


async def test_bash_success_keeps_the_output_unless_asked() -> None:
    response = await _post(_tester(), "/", _hook({"type": "bash", "cmd": "curl http://x/"}))
    assert (response.status, response.text) == (200, "")


@pytest.mark.parametrize(
    "command",
    [
        "curl http://x/; cat /etc/passwd",
        "curl http://x/ && cat /etc/passwd",
        "curl http://x/ || cat /etc/passwd",
        "curl $(cat /etc/passwd)",
        "curl `cat /etc/passwd`",
        'curl "http://x/$HOME"',
        "curl http://x/ > /tmp/pwned",
        "curl -d @- http://x/ < /etc/passwd",
        "curl http://x/ & cat /etc/passwd",
        "curl http://x/\ncat /etc/passwd",
        "(cat /etc/passwd)",
    ],
)
@pytest.mark.parametrize("task_type", ["cmd", "bash"])
async def test_shell_injection_is_refused_and_nothing_runs(command: str, task_type: str) -> None:
    tester = _tester()
    metadata = {"type": task_type, "cmd": command, "returnCmdOutput": "true"}
    response = await _post(tester, "/", _hook(metadata))
    assert response.status == 403
    assert response.text is not None
    assert "shell" in response.text
    assert _runs(tester) == []


@pytest.mark.parametrize("program", ["cat /etc/passwd", "sh -c id", "/usr/bin/curl http://x/"])
async def test_a_program_off_the_allow_list_is_refused(program: str) -> None:
    tester = _tester(policy=CommandPolicy())
    response = await _post(tester, "/", _hook({"type": "bash", "cmd": program}))
    assert response.status == 403
    assert response.text is not None
    assert "is not allowed (allowed: curl, ghz, hey;" in response.text
    assert _runs(tester) == []


async def test_a_pipe_into_an_unlisted_program_is_refused() -> None:
    tester = _tester(policy=CommandPolicy())
    response = await _post(tester, "/", _hook({"type": "bash", "cmd": SEED_ACCEPTANCE}))
    assert response.status == 403
    assert response.text is not None
    assert "program 'grep' is not allowed" in response.text


async def test_allow_shell_runs_flaggers_shells() -> None:
    tester = _tester(policy=CommandPolicy.of(allow_shell=True))
    await _post(tester, "/", _hook({"type": "bash", "cmd": "echo $HOME; id"}))
    await _post(tester, "/", _hook({"cmd": "sleep 1 && id"}))
    for _ in range(5):  # the background command reaches the spawner in a few loop turns
        await asyncio.sleep(0)
    assert _runs(tester) == [[["bash", "-c", "echo $HOME; id"]], [["sh", "-c", "sleep 1 && id"]]]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
    ],
)
@pytest.mark.parametrize("path", ["/", "/gate/open", "/gate/check", "/rollback/open"])
async def test_a_body_not_declared_json_is_415(headers: dict[str, str], path: str) -> None:
    tester = _tester()
    hook = _hook({"type": "bash", "cmd": "curl http://x/"})
    response = await _post(tester, path, hook, headers=headers)
    assert response.status == 415
    assert _runs(tester) == []
    assert not tester.gates.is_open("podinfo.test")


async def test_a_request_from_a_web_page_is_refused_even_as_json() -> None:
    tester = _tester()
    headers = {**JSON, "Origin": "http://attacker.example"}
    response = await _post(tester, "/gate/open", _hook(None), headers=headers)
    assert response.status == 403
    assert not tester.gates.is_open("podinfo.test")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Bearer s3cret", 202),
        (_basic("hooks", "s3cret"), 202),
        (_basic("s3cret", ""), 401),
        ("Basic !!!", 401),
    ],
)
async def test_a_configured_token_guards_tasks_and_gates(
    authorization: str | None, status: int
) -> None:
    tester = _tester(token="s3cret")
    headers = {**JSON, **({"Authorization": authorization} if authorization else {})}
    response = await _post(tester, "/gate/open", _hook(None), headers=headers)
    assert response.status == status
    assert tester.gates.is_open("podinfo.test") == (status == 202)


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
async def test_probes_and_metrics_need_neither_json_nor_token(path: str) -> None:
    response = await _post(_tester(token="s3cret"), path, b"", headers={}, method="GET")
    assert response.status == 200


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
        (_hook({"cmd": "hey http://x/"}, namespace="prod"), 403, "namespace 'prod' is not allowed"),
        (_hook({"cmd": "curl 'http://x/"}), 403, "No closing quotation"),
        (_hook({"cmd": "curl http://x/ | "}), 403, "a pipeline stage is empty"),
    ],
)
async def test_refusals_say_why(document: object, status: int, reason: str) -> None:
    response = await _post(_tester(namespaces="^test$"), "/", document)
    assert response.status == status
    assert response.text is not None
    assert reason in response.text


async def test_namespace_pattern_is_unanchored_like_go() -> None:
    hook = _hook({"cmd": "hey http://x/"}, "e2e-test-1")
    response = await _post(_tester(namespaces="test"), "/", hook)
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
    response = await _post(tester, "/", _hook({"type": "bash", "cmd": "curl http://x/"}))
    assert response.status == 503
