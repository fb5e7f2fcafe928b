"""Splunk Observability Cloud (SignalFx) as a metrics provider: a SignalFlow program run over
the SignalFlow WebSocket API (`/v2/signalflow`).

As Flagger does (through signalflow-client-go): the address is required and the stream URL is
derived from it (`https://api.<realm>.signalfx.com` → `wss://stream.<realm>.signalfx.com`);
the token is the Secret key `sf_token_key`; the program runs over the last 10 × the metric's
interval with `immediate: true`; payloads with no value are dropped, payloads of more than one
time series (TSID) are "multiple values", otherwise the last value is the answer; availability
is `GET /v2/metric?limit=1` on the API host with `X-SF-Token`. Unlike Flagger, which replaces
the first "http" and "api" anywhere in the address, only the scheme and a leading `api.` host
label are changed; a refused token is said to be one (Flagger ends with "no values").

The WebSocket protocol is written here on aiohttp: SignalFx's Python library (`signalfx`) has
had no release since 2022 and runs a blocking websocket-client. Messages follow the
documented stream message specification: JSON text messages (authenticated, control-message,
error, metadata) and binary data messages (a 20-byte header, then a timestamp, a count and
17-byte payloads: value type, TSID, value).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.abc
from yarl import URL

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
    lookback_seconds,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

LOOKBACK_INTERVALS = 10
TOKEN_KEY = "sf_token_key"
CHANNEL = "kanaria"
DATA_MESSAGE = 5
_HEADER = struct.Struct(">BBBx16s")
_DATA_HEADER = struct.Struct(">QI")
_PAYLOAD = struct.Struct(">Bq8s")
_COMPRESSED, _JSON_ENCODED = 1, 2
_LONG, _DOUBLE, _INT = 1, 2, 3
_END_EVENTS = frozenset({"END_OF_CHANNEL", "CHANNEL_ABORT"})


@dataclass(frozen=True, slots=True)
class Datapoint:
    tsid: int
    value: float | None


def decode_binary(message: bytes) -> tuple[str, list[Datapoint]] | dict[str, Any]:
    """A binary WebSocket message: (channel, datapoints) for data, or a JSON message."""
    if len(message) <= _HEADER.size:
        raise ProviderUnavailableError(f"a SignalFlow message of {len(message)} bytes is too short")
    _version, kind, flags, raw_channel = _HEADER.unpack_from(message)
    body = message[_HEADER.size :]
    if flags & _COMPRESSED:
        body = gzip.decompress(body)
    if flags & _JSON_ENCODED:
        decoded: dict[str, Any] = json.loads(body)
        return decoded
    channel = raw_channel.split(b"\0", 1)[0].decode()
    if kind != DATA_MESSAGE:
        return channel, []
    _timestamp, count = _DATA_HEADER.unpack_from(body)
    offset = _DATA_HEADER.size
    points = [
        _datapoint(*_PAYLOAD.unpack_from(body, offset + index * _PAYLOAD.size))
        for index in range(count)
    ]
    return channel, points


def _datapoint(kind: int, tsid: int, raw: bytes) -> Datapoint:
    if kind == _LONG:
        return Datapoint(tsid, float(struct.unpack(">q", raw)[0]))
    if kind == _DOUBLE:
        return Datapoint(tsid, struct.unpack(">d", raw)[0])
    if kind == _INT:
        return Datapoint(tsid, float(struct.unpack(">i", raw[:4])[0]))
    return Datapoint(tsid, None)


def program_value(points: list[Datapoint]) -> float:
    """Flagger's reading: drop empty payloads; one time series; its last value."""
    found = [(point.tsid, point.value) for point in points if point.value is not None]
    if not found:
        raise NoValuesError("no values found: the SignalFlow program published no datapoint")
    series = {tsid for tsid, _ in found}
    if len(series) > 1:
        raise MultipleValuesError(
            f"the SignalFlow program published {len(series)} time series, expected one; "
            "aggregate them, e.g. with .sum() or .mean()"
        )
    return found[-1][1]


def stream_url(api: URL) -> URL:
    """`https://api.<realm>…` → `wss://stream.<realm>…/v2/signalflow`."""
    host = api.host or ""
    if host.startswith("api."):
        host = "stream." + host.removeprefix("api.")
    scheme = {"http": "ws", "https": "wss"}.get(api.scheme, api.scheme)
    return join(api.with_scheme(scheme).with_host(host), "/v2/signalflow")


def api_url(address: URL) -> URL:
    """The REST host for an address given as the stream host (`wss://stream…`) or the API."""
    host = address.host or ""
    if host.startswith("stream."):
        host = "api." + host.removeprefix("stream.")
    scheme = {"ws": "http", "wss": "https"}.get(address.scheme, address.scheme)
    return address.with_scheme(scheme).with_host(host)


class SplunkProvider:
    """Runs SignalFlow programs over one WebSocket per query."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not settings.address:
            raise errors.ConfigError("splunk endpoint is not set (provider.address)")
        self._token = credentials.required_keys(
            "splunk", settings.secret, (TOKEN_KEY,), settings.secret_name
        )[TOKEN_KEY]
        api = backend_url("splunk", str(api_url(URL(settings.address.strip()))))
        self._stream = stream_url(api)
        self._validation = join(api, "/v2/metric")
        self._lookback_ms = int(lookback_seconds("splunk", settings, LOOKBACK_INTERVALS) * 1000)
        self._where = credentials.where(settings.secret_name, TOKEN_KEY)
        self._now = now
        self.http = HttpBackend(
            "Splunk Observability",
            settings.address,
            timeout=settings.timeout,
            secrets=[self._token],
            resolver=resolver,
            connector=connector,
        )

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> SplunkProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"SplunkProvider({self.http.address!r})"

    def execute_request(self, program: str) -> dict[str, Any]:
        now_ms = int(self._now() * 1000)
        return {
            "type": "execute",
            "channel": CHANNEL,
            "program": program,
            "start": now_ms - self._lookback_ms,
            "stop": now_ms,
            "immediate": True,
        }

    async def query(self, query: str) -> float:
        try:
            points = await asyncio.wait_for(self._execute(query), timeout=self.http.timeout)
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                f"{self.http.source}: the SignalFlow program did not finish within "
                f"{self.http.timeout:g} s"
            ) from exc
        return program_value(points)

    async def is_online(self) -> bool:
        answer = await self.http.request(
            "GET", self._validation, params={"limit": "1"}, headers={"X-SF-Token": self._token}
        )
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)
        return True

    async def close(self) -> None:
        await self.http.close()

    async def _execute(self, program: str) -> list[Datapoint]:
        with self.http.transport_errors():
            try:
                async with self.http.websocket(self._stream) as socket:
                    await socket.send_json({"type": "authenticate", "token": self._token})
                    await socket.send_json(self.execute_request(program))
                    return await self._collect(socket)
            except aiohttp.WSServerHandshakeError as exc:
                # a refused upgrade (401, 429, 503…) reads like the same refusal over REST
                answer = Answer(exc.status, exc.message.encode(), dict(exc.headers or {}))
                raise self.http.refusal(answer, credentials=self._where) from exc

    async def _collect(self, socket: aiohttp.ClientWebSocketResponse) -> list[Datapoint]:
        points: list[Datapoint] = []
        async for message in socket:
            if message.type == aiohttp.WSMsgType.BINARY:
                decoded = decode_binary(message.data)
                if isinstance(decoded, dict):
                    if self._finished(decoded):
                        return points
                elif decoded[0] == CHANNEL:
                    points.extend(decoded[1])
            elif message.type == aiohttp.WSMsgType.TEXT and self._finished(
                json.loads(message.data)
            ):
                return points
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
        raise ProviderUnavailableError(
            f"{self.http.source} closed the SignalFlow stream before the program ended"
        )

    def _finished(self, message: dict[str, Any]) -> bool:
        """True at the end of our channel; raises on an error message."""
        kind = message.get("type")
        if kind == "error":
            raise self._error(message)
        return kind == "control-message" and message.get("event") in _END_EVENTS

    def _error(self, message: dict[str, Any]) -> errors.KanariaError:
        code = message.get("error")
        text = self.http.redact(str(message.get("message") or message.get("errorType") or code))
        if code in (401, 403) or not message.get("channel"):
            return ProviderAuthError(
                f"{self.http.source} refused the token ({self._where}): {text}"
            )
        if code == 429:
            return ProviderUnavailableError(f"{self.http.source} is rate limiting: {text}")
        return QueryError(f"{self.http.source} failed the SignalFlow program: {text}")
