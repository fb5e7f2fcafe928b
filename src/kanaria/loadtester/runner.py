"""Runs webhook tasks: `bash` ones while the caller waits, `cmd` ones in the background.

A rollout webhook fires on every analysis tick, but its load test (`hey -z 1m ...`) lasts as long
as a tick or longer; starting a second copy each tick would double the load on the canary and
skew its metrics. So a background command is skipped while the same command for the same canary
is still running. Every command is bounded by the exec timeout and dies with the load tester.
"""

from __future__ import annotations

import asyncio
import logging

from kanaria.errors import TemporaryError
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult, Spawner
from kanaria.loadtester.sandbox import CommandLine
from kanaria.loadtester.tasks import Task, TaskKind
from kanaria.loadtester.timescale import scale_command

log = logging.getLogger("kanaria.loadtester")

SHELLS = {TaskKind.CMD: "sh", TaskKind.BASH: "bash"}
# Exit status a shell reports for a command it could not start.
CANNOT_EXECUTE = 127


class ShuttingDown(TemporaryError):
    """The load tester is stopping and runs nothing more."""


class TaskRunner:
    """Starts tasks through a `Spawner`, deduplicates background ones, stops them all on exit."""

    def __init__(
        self,
        spawner: Spawner,
        *,
        command_line: CommandLine | None = None,
        timeout: float = 3600.0,
        time_scale: float = 1.0,
        metrics: LoadTesterMetrics | None = None,
    ) -> None:
        self._spawner = spawner
        self._command_line = command_line or CommandLine()
        self._timeout = timeout
        self._time_scale = time_scale
        self._metrics = metrics or LoadTesterMetrics()
        self._background: dict[tuple[str, str], asyncio.Task[CommandResult]] = {}
        self._jobs: set[asyncio.Task[CommandResult]] = set()
        self._closed = False

    def is_running(self, task: Task) -> bool:
        return (task.canary, task.command) in self._background

    async def run_blocking(self, task: Task) -> CommandResult:
        """Run `task` and wait for it; raises ShuttingDown if the load tester stops meanwhile."""
        job = self._spawn(task)
        try:
            return await job
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our caller went away; the job was cancelled with us
            raise ShuttingDown("the load tester is shutting down; command killed") from None

    def start_background(self, task: Task) -> bool:
        """Start `task` unless the same command runs for the same canary; False if skipped."""
        key = (task.canary, task.command)
        if key in self._background:
            self._metrics.count(task.kind, "duplicate")
            log.info("command already running for %s, skipped: %s", task.canary, task.command)
            return False
        job = self._spawn(task)
        self._background[key] = job
        job.add_done_callback(lambda _: self._background.pop(key, None))
        return True

    async def shutdown(self, grace: float) -> None:
        """Refuse new tasks, kill every running command, wait at most `grace` seconds."""
        self._closed = True
        for job in self._jobs:
            job.cancel()
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=grace)

    def _spawn(self, task: Task) -> asyncio.Task[CommandResult]:
        if self._closed:
            raise ShuttingDown("the load tester is shutting down; no new commands")
        job = asyncio.create_task(self._execute(task), name=f"{task.kind} {task.canary}")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return job

    async def _execute(self, task: Task) -> CommandResult:
        command = scale_command(task.command, self._time_scale)
        if command != task.command:
            log.debug("time scale %g: running %r as %r", self._time_scale, task.command, command)
        argv = self._command_line.argv(SHELLS[task.kind], command)
        running = self._metrics.running.labels(type=task.kind)
        running.inc()
        try:
            result = await self._spawner.run(argv, self._timeout)
        except OSError as exc:
            result = CommandResult(exit_code=CANNOT_EXECUTE, output=f"{exc}\n".encode())
        finally:
            running.dec()
        self._report(task, result)
        return result

    def _report(self, task: Task, result: CommandResult) -> None:
        outcome = "success" if result.succeeded else "timeout" if result.timed_out else "failure"
        self._metrics.count(task.kind, outcome)
        output = result.output.decode(errors="replace").rstrip()
        if result.succeeded:
            log.info("command finished for %s: %s", task.canary, task.command)
        else:
            log.warning("command %s for %s: %s", result.describe(), task.canary, task.command)
        if output and (task.log_output or not result.succeeded):
            log.info("output of %r for %s:\n%s", task.command, task.canary, output)
