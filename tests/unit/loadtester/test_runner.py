"""The task runner with a fake spawner: argvs, shells, dedup, time scale, timeout, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from kanaria.loadtester.commands import CommandPolicy
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult
from kanaria.loadtester.runner import ShuttingDown, TaskRunner
from kanaria.loadtester.sandbox import CommandLine
from kanaria.loadtester.tasks import Task, TaskKind


class FakeSpawner:
    """Records what it is asked to run; holds each run until `release` (or cancellation)."""

    def __init__(self, result: CommandResult | None = None, hold: bool = False) -> None:
        self.result = result or CommandResult(exit_code=0, output=b"ok\n")
        self.calls: list[tuple[list[list[str]], float]] = []
        self.cancelled = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def run(self, stages: Sequence[Sequence[str]], time_limit: float) -> CommandResult:
        self.calls.append(([list(stage) for stage in stages], time_limit))
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.result


class BrokenSpawner:
    async def run(self, stages: Sequence[Sequence[str]], time_limit: float) -> CommandResult:
        raise FileNotFoundError(2, "No such file or directory", stages[0][0])


SHELL = CommandPolicy.of(allow_shell=True)
HEY = "hey -z 1m http://podinfo-canary.test:9898/"


def _task(command: str = HEY, kind: TaskKind = TaskKind.CMD, canary: str = "podinfo.test") -> Task:
    return Task(canary=canary, kind=kind, command=command)


def _count(metrics: LoadTesterMetrics, kind: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "kanaria_loadtester_commands_total", {"type": kind, "outcome": outcome}
    )
    return value or 0.0


async def _settle() -> None:
    # Lets started jobs reach the spawner; a few loop turns, no wall-clock wait.
    for _ in range(5):
        await asyncio.sleep(0)


async def test_commands_run_as_argvs_without_a_shell() -> None:
    spawner, metrics = FakeSpawner(), LoadTesterMetrics()
    runner = TaskRunner(spawner, timeout=30, metrics=metrics)
    command = "curl -sd 'test' http://podinfo-canary:9898/token"
    result = await runner.run_blocking(runner.prepare(_task(command, kind=TaskKind.BASH)))
    assert result.output == b"ok\n"
    assert spawner.calls == [([["curl", "-sd", "test", "http://podinfo-canary:9898/token"]], 30)]
    assert _count(metrics, "bash", "success") == 1


async def test_with_allow_shell_bash_tasks_run_under_bash() -> None:
    spawner = FakeSpawner()
    runner = TaskRunner(spawner, timeout=30, policy=SHELL)
    await runner.run_blocking(runner.prepare(_task("echo ok", kind=TaskKind.BASH)))
    assert spawner.calls == [([["bash", "-c", "echo ok"]], 30)]


async def test_with_allow_shell_cmd_tasks_run_under_sh_in_the_background() -> None:
    spawner = FakeSpawner(hold=True)
    runner = TaskRunner(spawner, policy=SHELL)
    assert runner.start_background(runner.prepare(_task("true")))
    await _settle()
    assert spawner.calls[0][0] == [["sh", "-c", "true"]]
    spawner.release.set()
    await _settle()
    assert not runner.is_running(_task("true"))


async def test_a_running_command_is_not_started_twice_for_the_same_canary() -> None:
    spawner, metrics = FakeSpawner(hold=True), LoadTesterMetrics()
    runner = TaskRunner(spawner, metrics=metrics)
    assert runner.start_background(runner.prepare(_task()))
    assert not runner.start_background(runner.prepare(_task()))
    assert runner.start_background(runner.prepare(_task(canary="other.test")))
    assert runner.start_background(runner.prepare(_task("hey -z 1m http://other/")))
    await _settle()
    assert len(spawner.calls) == 3
    assert _count(metrics, "cmd", "duplicate") == 1
    spawner.release.set()
    await _settle()
    assert runner.start_background(runner.prepare(_task()))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (CommandPolicy(), [["hey", "-z", "1800ms", "-q", "10", "-c", "2", "http://x/"]]),
        (SHELL, [["bash", "-c", "hey -z 1800ms -q 10 -c 2 http://x/"]]),
    ],
)
async def test_load_tests_are_shortened_by_the_time_scale(
    policy: CommandPolicy, expected: list[list[str]]
) -> None:
    spawner = FakeSpawner()
    runner = TaskRunner(spawner, time_scale=30, policy=policy)
    task = _task("hey -z 1m -q 10 -c 2 http://x/", kind=TaskKind.BASH)
    await runner.run_blocking(runner.prepare(task))
    assert spawner.calls[0][0] == expected


async def test_each_stage_runs_inside_the_hosts_namespace_when_asked() -> None:
    spawner = FakeSpawner()
    command_line = CommandLine(Path("/run/kanaria/hosts"))
    runner = TaskRunner(spawner, command_line=command_line, policy=CommandPolicy.of(["grep"]))
    task = _task("curl http://podinfo.test/ | grep token", kind=TaskKind.BASH)
    await runner.run_blocking(runner.prepare(task))
    first, second = spawner.calls[0][0]
    assert first[:2] == second[:2] == ["unshare", "--mount"]
    assert first[-3:] == ["/run/kanaria/hosts", "curl", "http://podinfo.test/"]
    assert second[-3:] == ["/run/kanaria/hosts", "grep", "token"]


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (CommandResult(exit_code=1, output=b"boom"), "failure"),
        (CommandResult(exit_code=-9, timed_out=True), "timeout"),
    ],
)
async def test_failures_are_counted_by_outcome(result: CommandResult, outcome: str) -> None:
    metrics = LoadTesterMetrics()
    runner = TaskRunner(FakeSpawner(result), metrics=metrics)
    job = runner.prepare(_task(kind=TaskKind.BASH))
    assert not (await runner.run_blocking(job)).succeeded
    assert _count(metrics, "bash", outcome) == 1


async def test_a_command_that_cannot_start_is_a_failure_with_the_reason() -> None:
    runner = TaskRunner(BrokenSpawner())
    result = await runner.run_blocking(runner.prepare(_task(kind=TaskKind.BASH)))
    assert result.exit_code == 127
    assert b"No such file or directory" in result.output


async def test_shutdown_kills_running_commands_and_refuses_new_ones() -> None:
    spawner = FakeSpawner(hold=True)
    runner = TaskRunner(spawner)
    runner.start_background(runner.prepare(_task()))
    blocking = asyncio.create_task(
        runner.run_blocking(runner.prepare(_task("curl http://x/", kind=TaskKind.BASH)))
    )
    await _settle()
    await runner.shutdown(grace=1)
    assert spawner.cancelled == 2
    with pytest.raises(ShuttingDown):
        await blocking
    with pytest.raises(ShuttingDown):
        runner.start_background(runner.prepare(_task("hey http://y/")))


async def test_a_caller_that_goes_away_takes_its_command_with_it() -> None:
    spawner = FakeSpawner(hold=True)
    runner = TaskRunner(spawner)
    caller = asyncio.create_task(runner.run_blocking(runner.prepare(_task(kind=TaskKind.BASH))))
    await _settle()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert spawner.cancelled == 1


def test_result_descriptions() -> None:
    assert CommandResult(exit_code=3).describe() == "exit status 3"
    assert CommandResult(exit_code=-9).describe() == "killed by signal 9"
    assert CommandResult(exit_code=-9, timed_out=True).describe() == "timed out"
