"""A tiny loopback HTTP backend for data-plane tests, with knobs to make it slow or failing.

It plays one replica of an app behind Envoy. It answers every request with its name (`v1\\n`)
and an `x-version` header, and can be told at runtime to add latency to a fraction of requests,
to fail a fraction of them, or to fail the first attempt of every request (recognised by the
`x-request-id` that Envoy keeps across retries). It runs an asyncio server in its own thread, so
it keeps serving while a test awaits `hey` or Prometheus in its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from dataclasses import dataclass, field
from types import TracebackType

_REASONS = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Knobs:
    """What the backend does to each request; tests change these while it runs."""

    latency_ms: float = 0.0
    latency_fraction: float = 1.0
    error_fraction: float = 0.0
    error_code: int = 500
    fail_first_attempt: bool = False


@dataclass
class Backend:
    """An HTTP/1.1 keep-alive server on `host:port` (port 0: the kernel picks one)."""

    name: str
    host: str = "127.0.0.1"
    port: int = 0
    knobs: Knobs = field(default_factory=Knobs)
    seed: int = 1
    requests: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._seen_ids: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Backend:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(timeout=5)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        status = await self._decide(headers)
        body = f"{self.name}\n".encode()
        response = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"content-type: text/plain\r\nx-version: {self.name}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body
        writer.write(response)
        await writer.drain()
        return headers.get("connection", "").lower() != "close" and "HTTP/1.1" in lines[0]

    async def _decide(self, headers: dict[str, str]) -> int:
        knobs = self.knobs
        self.requests += 1
        if knobs.latency_ms and self._random.random() < knobs.latency_fraction:
            await asyncio.sleep(knobs.latency_ms / 1000)
        request_id = headers.get("x-request-id", "")
        if knobs.fail_first_attempt and request_id and request_id not in self._seen_ids:
            self._seen_ids.add(request_id)
            self.errors += 1
            return 503
        if knobs.error_fraction and self._random.random() < knobs.error_fraction:
            self.errors += 1
            return knobs.error_code
        return 200


def start_backends(*backends: Backend) -> contextlib.ExitStack:
    """Start several backends; closing the returned stack stops every one that started."""
    stack = contextlib.ExitStack()
    for backend in backends:
        stack.enter_context(backend)
    return stack
