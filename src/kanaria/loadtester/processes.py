"""Running a command — one program or a pipeline — bounded in time and in captured output.

Load tests start children of their own (`hey` forks workers, a shell under `--allow-shell` forks
the rest); killing only the first process would leave load on the canary after a timeout or a
shutdown. Each program therefore gets a session of its own and every process group is killed.
A pipeline (`curl ... | grep token`) is connected here with OS pipes, as a shell would connect
it: each stage's standard output feeds the next, the output returned is the last stage's
standard output with every stage's standard error, and the exit status is the last stage's.

Commands get the load tester's environment minus the variables that hold its own secrets
(`PRIVATE_VARIABLES`), so no command can print the token that guards the load tester. The
`Spawner` protocol lets the task runner be tested without starting processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# A command that prints more than this keeps running; the rest of its output is dropped.
MAX_OUTPUT_BYTES = 1 << 20
# After the command exits, leftovers that still hold its output pipe get this long, then die.
LINGER_SECONDS = 0.5
READ_CHUNK = 1 << 16
FIRST_POLL_SECONDS = 0.002
LAST_POLL_SECONDS = 0.1
# The load tester's own secrets (and the local platform's state dir, should a parent pass it):
# never in a command's environment.
TOKEN_VARIABLE = "KANARIA_LOADTESTER_TOKEN"
PRIVATE_VARIABLES = frozenset({TOKEN_VARIABLE, "KANARIA_STATE_DIR"})

Stages = Sequence[Sequence[str]]


def command_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment commands run with: the load tester's, without its secrets."""
    return {name: value for name, value in environ.items() if name not in PRIVATE_VARIABLES}


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: its exit status (negative: killed by that signal) and its output."""

    exit_code: int
    output: bytes = b""
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """Why the command failed, in the words an event reader needs."""
        if self.timed_out:
            return "timed out"
        if self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        return f"exit status {self.exit_code}"


class Spawner(Protocol):
    """Runs a pipeline of argvs to completion, killing it after `time_limit` seconds or on
    cancellation.

    The limit is the spawner's to enforce (not the caller's `asyncio.timeout`) because a command
    that runs out of time still has output worth reporting.
    """

    async def run(self, stages: Stages, time_limit: float) -> CommandResult: ...


def kill_group(pid: int) -> None:
    # The group may already be gone; that is the outcome we wanted.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _kill_all(processes: Sequence[asyncio.subprocess.Process]) -> None:
    for process in processes:
        kill_group(process.pid)


class SubprocessSpawner:
    """The real `Spawner`: one new session per program, standard error captured with the output.

    `environ` is what commands see (default: this process's, secrets removed).
    """

    def __init__(
        self,
        max_output: int = MAX_OUTPUT_BYTES,
        linger: float = LINGER_SECONDS,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._max_output = max_output
        self._linger = linger
        self._environ = command_environment(os.environ if environ is None else environ)

    async def run(self, stages: Stages, time_limit: float) -> CommandResult:
        if not stages:
            raise ValueError("a command needs at least one program")
        output_read, output_write = os.pipe()
        try:
            processes = await self._start(stages, output_write)
        except BaseException:
            os.close(output_read)
            raise
        finally:
            os.close(output_write)
        stream, transport = await _stream_of(output_read)
        output = bytearray()
        reader = asyncio.create_task(self._collect(stream, output))
        try:
            timed_out = await self._wait(processes, time_limit)
            await self._drain(processes, reader)
        except asyncio.CancelledError:
            _kill_all(processes)
            reader.cancel()
            raise
        finally:
            transport.close()
        exit_code = processes[-1].returncode
        assert exit_code is not None  # _wait returns only once every process has exited
        return CommandResult(exit_code=exit_code, output=bytes(output), timed_out=timed_out)

    async def _start(self, stages: Stages, output: int) -> list[asyncio.subprocess.Process]:
        """Start every stage, each reading the one before; on failure kill those started."""
        processes: list[asyncio.subprocess.Process] = []
        stdin: int = asyncio.subprocess.DEVNULL
        for index, argv in enumerate(stages):
            last = index == len(stages) - 1
            next_read, stdout = (-1, output) if last else os.pipe()
            ours = (stdin, -1 if last else stdout)
            try:
                processes.append(await self._spawn(argv, stdin, stdout, output))
            except BaseException:
                _close_ours(*ours, next_read)
                _kill_all(processes)
                raise
            _close_ours(*ours)
            stdin = next_read
        return processes

    async def _spawn(
        self, argv: Sequence[str], stdin: int, stdout: int, stderr: int
    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=self._environ,
            start_new_session=True,
        )

    @staticmethod
    async def _wait(processes: Sequence[asyncio.subprocess.Process], time_limit: float) -> bool:
        # Process.wait() also waits for the output pipe to close, which a leftover background
        # child can hold open for as long as it lives; exit statuses are polled instead, often
        # at first so quick commands answer quickly, then ten times a second.
        loop = asyncio.get_running_loop()
        deadline, pause, timed_out = loop.time() + time_limit, FIRST_POLL_SECONDS, False
        while any(process.returncode is None for process in processes):
            if not timed_out and loop.time() >= deadline:
                _kill_all(processes)
                timed_out = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_POLL_SECONDS)
        return timed_out

    async def _drain(
        self, processes: Sequence[asyncio.subprocess.Process], reader: asyncio.Task[None]
    ) -> None:
        # Background children of the command may keep the pipe open; they do not outlive it.
        done, _ = await asyncio.wait({reader}, timeout=self._linger)
        if not done:
            _kill_all(processes)
            done, _ = await asyncio.wait({reader}, timeout=self._linger)
        if not done:
            reader.cancel()

    async def _collect(self, stream: asyncio.StreamReader, output: bytearray) -> None:
        while chunk := await stream.read(READ_CHUNK):
            room = self._max_output - len(output)
            if room > 0:
                output.extend(chunk[:room])


async def _stream_of(descriptor: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(descriptor, "rb", 0)
    )
    return stream, transport


def _close_ours(*descriptors: int) -> None:
    # Negative numbers are "none" or subprocess's DEVNULL, not descriptors of ours.
    for descriptor in descriptors:
        if descriptor >= 0:
            os.close(descriptor)
