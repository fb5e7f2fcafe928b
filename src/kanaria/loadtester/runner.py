"""Runs webhook tasks: `bash` ones while the caller waits, `cmd` ones in the background.

A task is first prepared into a `Job` (its command checked against the `CommandPolicy` and
turned into argvs, see `commands.py`), so a refused command is answered before anything starts.

A rollout webhook fires on every analysis tick, but its load test (`hey -z 1m ...`) lasts as long
as a tick or longer; starting a second copy each tick would double the load on the canary and
skew its metrics. So a background command is skipped while the same command for the same canary
is still running. Every command is bounded by the exec timeout and dies with the load tester.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kanaria.errors import TemporaryError
from kanaria.loadtester.commands import CommandPolicy, Invocation
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import CommandResult, Spawner
from kanaria.loadtester.sandbox import CommandLine
from kanaria.loadtester.tasks import Task

log = logging.getLogger("kanaria.loadtester")

# Exit status a shell reports for a command it could not start.
CANNOT_EXECUTE = 127


@dataclass(frozen=True)
class Job:
    """A task whose command passed the policy: what runs for it."""

    task: Task
    invocation: Invocation


class ShuttingDown(TemporaryError):
    """The load tester is stopping and runs nothing more."""


class TaskRunner:
    """Starts tasks through a `Spawner`, deduplicates background ones, stops them all on exit."""

    def __init__(
        self,
        spawner: Spawner,
        *,
        command_line: CommandLine | None = None,
        policy: CommandPolicy | None = None,
        timeout: float = 3600.0,
        time_scale: float = 1.0,
        metrics: LoadTesterMetrics | None = None,
    ) -> None:
        self._spawner = spawner
        self._command_line = command_line or CommandLine()
        self._policy = policy or CommandPolicy()
        self._timeout = timeout
        self._time_scale = time_scale
        self._metrics = metrics or LoadTesterMetrics()
        self._background: dict[tuple[str, str], asyncio.Task[CommandResult]] = {}
        self._running: set[asyncio.Task[CommandResult]] = set()
        self._closed = False

    def is_running(self, task: Task) -> bool:
        return (task.canary, task.command) in self._background

    def prepare(self, task: Task) -> Job:
        """The job for `task`; raises CommandRefused when the policy does not allow its command."""
        return Job(task, self._policy.plan(task.command, task.kind, self._time_scale))

    async def run_blocking(self, job: Job) -> CommandResult:
        """Run `job` and wait for it; raises ShuttingDown if the load tester stops meanwhile."""
        running = self._spawn(job)
        try:
            return await running
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our caller went away; the job was cancelled with us
            raise ShuttingDown("the load tester is shutting down; command killed") from None

    def start_background(self, job: Job) -> bool:
        """Start `job` unless the same command runs for the same canary; False if skipped."""
        task = job.task
        key = (task.canary, task.command)
        if key in self._background:
            self._metrics.count(task.kind, "duplicate")
            log.info("command already running for %s, skipped: %s", task.canary, task.command)
            return False
        running = self._spawn(job)
        self._background[key] = running
        running.add_done_callback(lambda _: self._background.pop(key, None))
        return True

    async def shutdown(self, grace: float) -> None:
        """Refuse new tasks, kill every running command, wait at most `grace` seconds."""
        self._closed = True
        for running in self._running:
            running.cancel()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)

    def _spawn(self, job: Job) -> asyncio.Task[CommandResult]:
        if self._closed:
            raise ShuttingDown("the load tester is shutting down; no new commands")
        name = f"{job.task.kind} {job.task.canary}"
        running = asyncio.create_task(self._execute(job), name=name)
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        return running

    async def _execute(self, job: Job) -> CommandResult:
        task = job.task
        log.debug("running %r for %s as %s", task.command, task.canary, job.invocation)
        stages = [self._command_line.wrap(stage) for stage in job.invocation.stages]
        running = self._metrics.running.labels(type=task.kind)
        running.inc()
        try:
            result = await self._spawner.run(stages, self._timeout)
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
