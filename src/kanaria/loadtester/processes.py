"""Running one command line as a process group, bounded in time and in captured output.

Load tests start children of their own (`sh -c "hey ..."`); killing only the shell would leave
`hey` loading the canary after a timeout or a shutdown. Each command therefore gets a session of
its own and the whole process group is killed. The `Spawner` protocol lets the task runner be
tested without starting processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# A command that prints more than this keeps running; the rest of its output is dropped.
MAX_OUTPUT_BYTES = 1 << 20
# After the command exits, leftovers that still hold its output pipe get this long, then die.
LINGER_SECONDS = 0.5
READ_CHUNK = 1 << 16
FIRST_POLL_SECONDS = 0.002
LAST_POLL_SECONDS = 0.1


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
    """Runs an argv to completion, killing it after `time_limit` seconds or on cancellation.

    The limit is the spawner's to enforce (not the caller's `asyncio.timeout`) because a command
    that runs out of time still has output worth reporting.
    """

    async def run(self, argv: Sequence[str], time_limit: float) -> CommandResult: ...


def kill_group(pid: int) -> None:
    # The group may already be gone; that is the outcome we wanted.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class SubprocessSpawner:
    """The real `Spawner`: one new session per command, stdout and stderr captured together."""

    def __init__(self, max_output: int = MAX_OUTPUT_BYTES, linger: float = LINGER_SECONDS) -> None:
        self._max_output = max_output
        self._linger = linger

    async def run(self, argv: Sequence[str], time_limit: float) -> CommandResult:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        output = bytearray()
        assert process.stdout is not None  # asked for with PIPE above
        reader = asyncio.create_task(self._collect(process.stdout, output))
        try:
            timed_out = await self._wait(process, time_limit)
        except asyncio.CancelledError:
            kill_group(process.pid)
            reader.cancel()
            raise
        await self._drain(process.pid, reader)
        exit_code = process.returncode
        assert exit_code is not None  # _wait returns only once the process has exited
        return CommandResult(exit_code=exit_code, output=bytes(output), timed_out=timed_out)

    @staticmethod
    async def _wait(process: asyncio.subprocess.Process, time_limit: float) -> bool:
        # Process.wait() also waits for the output pipe to close, which a leftover background
        # child can hold open for as long as it lives; the exit status is polled instead, often
        # at first so quick commands answer quickly, then ten times a second.
        loop = asyncio.get_running_loop()
        deadline, pause, timed_out = loop.time() + time_limit, FIRST_POLL_SECONDS, False
        while process.returncode is None:
            if not timed_out and loop.time() >= deadline:
                kill_group(process.pid)
                timed_out = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_POLL_SECONDS)
        return timed_out

    async def _drain(self, pid: int, reader: asyncio.Task[None]) -> None:
        # Background children of the command may keep the pipe open; they do not outlive it.
        done, _ = await asyncio.wait({reader}, timeout=self._linger)
        if not done:
            kill_group(pid)
            done, _ = await asyncio.wait({reader}, timeout=self._linger)
        if not done:
            reader.cancel()

    async def _collect(self, stream: asyncio.StreamReader, output: bytearray) -> None:
        while chunk := await stream.read(READ_CHUNK):
            room = self._max_output - len(output)
            if room > 0:
                output.extend(chunk[:room])
