"""Webhook payloads: what each asks the load tester to run, and why a bad one is refused."""

from __future__ import annotations

import json

import pytest

from kanaria.loadtester.tasks import PayloadError, Task, TaskKind, parse_payload, task_from_payload


def _body(metadata: object = None, **fields: object) -> bytes:
    document = {"name": "podinfo", "namespace": "test", "phase": "Progressing", **fields}
    if metadata is not None:
        document["metadata"] = metadata
    return json.dumps(document).encode()


def test_the_seed_load_test_is_a_background_command() -> None:
    cmd = "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
    task = task_from_payload(parse_payload(_body({"cmd": cmd})))
    assert task == Task(canary="podinfo.test", kind=TaskKind.CMD, command=cmd)


def test_the_seed_acceptance_test_is_a_blocking_bash_command() -> None:
    cmd = "curl -sd 'test' http://podinfo-canary:9898/token | grep token"
    task = task_from_payload(parse_payload(_body({"type": "bash", "cmd": cmd})))
    assert (task.kind, task.command) == (TaskKind.BASH, cmd)


@pytest.mark.parametrize(
    ("metadata", "log_output", "return_output"),
    [
        ({"cmd": "x", "logCmdOutput": "true"}, True, False),
        ({"cmd": "x", "returnCmdOutput": "true"}, False, True),
        ({"cmd": "x", "returnCmdOutput": True}, False, True),
        ({"cmd": "x", "returnCmdOutput": "false"}, False, False),
    ],
)
def test_output_switches(
    metadata: dict[str, object], log_output: bool, return_output: bool
) -> None:
    task = task_from_payload(parse_payload(_body(metadata)))
    assert (task.log_output, task.return_output) == (log_output, return_output)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "request body must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (_body(name=3), "name must be a string"),
        (_body(metadata="cmd"), "metadata must be an object"),
        (_body({"cmd": {"nested": 1}}), "metadata.cmd must be a string"),
    ],
)
def test_unreadable_payloads(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_payload(body)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (None, "metadata is missing"),
        ({}, "metadata is missing"),
        ({"type": "bash"}, "metadata.cmd is missing or empty for a bash task"),
        ({"cmd": "   "}, "metadata.cmd is missing or empty for a cmd task"),
        ({"type": "shell", "cmd": "x"}, "unknown task type 'shell'; known types: cmd, bash"),
        ({"type": "helm", "cmd": "x"}, "'helm' is not supported by this load tester"),
    ],
)
def test_payloads_without_a_runnable_task(metadata: object, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        task_from_payload(parse_payload(_body(metadata)))
