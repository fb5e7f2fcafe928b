"""The task runner with a fake spawner: shells, dedup, time scale, timeout, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult
from kanaria.loadtester.runner import ShuttingDown, TaskRunner
from kanaria.loadtester.sandbox import CommandLine
from kanaria.loadtester.tasks import Task, TaskKind


class FakeSpawner:
    """Records what it is asked to run; holds each run until `release` (or cancellation)."""

    def __init__(self, result: CommandResult | None = None, hold: bool = False) -> None:
        self.result = result or CommandResult(exit_code=0, output=b"ok\n")
        self.calls: list[tuple[list[str], float]] = []
        self.cancelled = 0
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def run(self, argv: Sequence[str], time_limit: float) -> CommandResult:
        self.calls.append((list(argv), time_limit))
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.result


class BrokenSpawner:
    async def run(self, argv: Sequence[str], time_limit: float) -> CommandResult:
        raise FileNotFoundError(2, "No such file or directory", argv[0])


def _task(
    command: str = "hey -z 1m http://podinfo-canary.test:9898/",
    kind: TaskKind = TaskKind.CMD,
    canary: str = "podinfo.test",
) -> Task:
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


async def test_bash_tasks_run_under_bash_and_return_the_result() -> None:
    spawner, metrics = FakeSpawner(), LoadTesterMetrics()
    runner = TaskRunner(spawner, timeout=30, metrics=metrics)
    result = await runner.run_blocking(_task("echo ok", kind=TaskKind.BASH))
    assert result.output == b"ok\n"
    assert spawner.calls == [(["bash", "-c", "echo ok"], 30)]
    assert _count(metrics, "bash", "success") == 1


async def test_cmd_tasks_run_under_sh_in_the_background() -> None:
    spawner = FakeSpawner(hold=True)
    runner = TaskRunner(spawner)
    assert runner.start_background(_task("true"))
    await _settle()
    assert spawner.calls[0][0] == ["sh", "-c", "true"]
    spawner.release.set()
    await _settle()
    assert not runner.is_running(_task("true"))


async def test_a_running_command_is_not_started_twice_for_the_same_canary() -> None:
    spawner, metrics = FakeSpawner(hold=True), LoadTesterMetrics()
    runner = TaskRunner(spawner, metrics=metrics)
    assert runner.start_background(_task())
    assert not runner.start_background(_task())
    assert runner.start_background(_task(canary="other.test"))
    assert runner.start_background(_task("hey -z 1m http://other/"))
    await _settle()
    assert len(spawner.calls) == 3
    assert _count(metrics, "cmd", "duplicate") == 1
    spawner.release.set()
    await _settle()
    assert runner.start_background(_task())


async def test_load_tests_are_shortened_by_the_time_scale() -> None:
    spawner = FakeSpawner()
    runner = TaskRunner(spawner, time_scale=30)
    await runner.run_blocking(_task("hey -z 1m -q 10 -c 2 http://x/", kind=TaskKind.BASH))
    assert spawner.calls[0][0][-1] == "hey -z 1800ms -q 10 -c 2 http://x/"


async def test_commands_run_inside_the_hosts_namespace_when_asked() -> None:
    spawner = FakeSpawner()
    runner = TaskRunner(spawner, command_line=CommandLine(Path("/run/kanaria/hosts")))
    await runner.run_blocking(_task("curl http://podinfo.test/", kind=TaskKind.BASH))
    argv = spawner.calls[0][0]
    assert argv[:2] == ["unshare", "--mount"]
    assert argv[-3:] == ["/run/kanaria/hosts", "bash", "curl http://podinfo.test/"]


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
    assert not (await runner.run_blocking(_task("x", kind=TaskKind.BASH))).succeeded
    assert _count(metrics, "bash", outcome) == 1


async def test_a_command_that_cannot_start_is_a_failure_with_the_reason() -> None:
    result = await TaskRunner(BrokenSpawner()).run_blocking(_task("x", kind=TaskKind.BASH))
    assert result.exit_code == 127
    assert b"No such file or directory" in result.output


async def test_shutdown_kills_running_commands_and_refuses_new_ones() -> None:
    spawner = FakeSpawner(hold=True)
    runner = TaskRunner(spawner)
    runner.start_background(_task())
    blocking = asyncio.create_task(runner.run_blocking(_task("x", kind=TaskKind.BASH)))
    await _settle()
    await runner.shutdown(grace=1)
    assert spawner.cancelled == 2
    with pytest.raises(ShuttingDown):
        await blocking
    with pytest.raises(ShuttingDown):
        runner.start_background(_task("y"))


async def test_a_caller_that_goes_away_takes_its_command_with_it() -> None:
    spawner = FakeSpawner(hold=True)
    caller = asyncio.create_task(TaskRunner(spawner).run_blocking(_task(kind=TaskKind.BASH)))
    await _settle()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert spawner.cancelled == 1


def test_result_descriptions() -> None:
    assert CommandResult(exit_code=3).describe() == "exit status 3"
    assert CommandResult(exit_code=-9).describe() == "killed by signal 9"
    assert CommandResult(exit_code=-9, timed_out=True).describe() == "timed out"
