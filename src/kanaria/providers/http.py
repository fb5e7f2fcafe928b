"""One aiohttp client for the metrics backends that speak HTTP, and the one place where their
transport failures and refusals become kanaria's outcome errors.

Datadog, New Relic, Graphite, Dynatrace, InfluxDB, Stackdriver, Splunk's REST side and the
external metrics API differ in paths, headers and bodies, not in how a refused connection, a
timeout, a 401, a 429 or a 503 should read to a user. So each backend module builds its
requests and reads its answers, and `HttpBackend` sends them and words the failures. Every text
built here passes `redact`, so a credential echoed back by a server never reaches an exception,
an event or a log.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.abc
from yarl import URL

from kanaria import errors
from kanaria.providers.base import (
    DEFAULT_TIMEOUT_SECONDS,
    ProviderAuthError,
    ProviderUnavailableError,
    QueryError,
)

REDACTED = "<redacted>"
_EXCERPT_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """What a backend sent back: status, body, and the headers that matter (lower-case names)."""

    status: int
    body: bytes
    headers: Mapping[str, str]


def backend_url(type_name: str, address: str) -> URL:
    """The address as a URL, or a ConfigError in Flagger's words (`<type> address … is not a
    valid URL`). Its path is kept as a prefix for the API paths, as Flagger keeps it."""
    try:
        url = URL(address.strip())
    except (TypeError, ValueError) as exc:
        raise errors.ConfigError(f"{type_name} address {address!r} is not a valid URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.ConfigError(
            f"{type_name} address {address!r} is not a valid URL: expected http:// or "
            "https:// and a host"
        )
    return url.with_query(None).with_fragment(None)


def join(base: URL, path: str) -> URL:
    """`base` with `path` appended to its own path (no doubled slash, unlike Flagger)."""
    return base.with_path(base.path.rstrip("/") + path)


def ssl_setting(verify_tls: bool, ca_file: str | os.PathLike[str] | None) -> bool | ssl.SSLContext:
    """aiohttp's `ssl=` value: False skips verification, a context trusts our own CA."""
    if ca_file is None:
        return verify_tls
    if not verify_tls:
        raise errors.ConfigError("a CA file and insecureSkipVerify contradict each other")
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise errors.ConfigError(f"cannot load the CA file {ca_file}: {exc}") from exc


def reason_in(payload: Any) -> str:
    """The human part of a JSON error body, in the shapes the vendors document:
    `{"errors": [...]}` (Datadog), `{"error": "..."}` (New Relic),
    `{"error": {"message": ...}}` (Dynatrace, Google), `{"message": ...}` (InfluxDB, Kubernetes)."""
    if not isinstance(payload, dict):
        return ""
    for key in ("message", "error", "errors", "description"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            return reason_in(value)
        if isinstance(value, list) and value:
            return "; ".join(str(item) for item in value)
    return ""


class HttpBackend:
    """Sends a backend's requests over one aiohttp session and words whatever goes wrong.

    `name` and `address` name the backend in every message ("Datadog at https://…").
    `secrets` are the credential values to keep out of messages. A passed `connector` (the
    local platform's) is not closed here; `resolver` lets it resolve its service names.
    """

    def __init__(
        self,
        name: str,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        headers: Iterable[tuple[str, str]] = (),
        verify_tls: bool = True,
        ca_file: str | None = None,
        secrets: Iterable[str] = (),
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        if timeout <= 0:
            raise errors.ConfigError(f"{name} timeout must be positive, got {timeout}")
        self.name = name
        self.address = address
        self.timeout = timeout
        self._headers = list(headers)
        self._ssl = ssl_setting(verify_tls, ca_file)
        # longest first, so a secret that contains another is hidden whole
        self._secrets = sorted({value for value in secrets if value}, key=len, reverse=True)
        self._resolver = resolver
        self._connector = connector
        self._session: aiohttp.ClientSession | None = None

    @property
    def source(self) -> str:
        return f"{self.name} at {self.address}"

    async def request(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; raises ProviderUnavailableError when no answer comes."""
        with self.transport_errors():
            async with self._client().request(
                method, url, params=params, json=json_body, headers=headers, ssl=self._ssl
            ) as response:
                body = await response.read()
                kept = {name.lower(): value for name, value in response.headers.items()}
                return Answer(response.status, body, kept)

    @contextlib.asynccontextmanager
    async def websocket(self, url: URL) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """A WebSocket over the same session (headers, TLS, resolver); wrap the use of it in
        `transport_errors`."""
        async with self._client().ws_connect(url, ssl=self._ssl) as socket:
            yield socket

    @contextlib.contextmanager
    def transport_errors(self) -> Iterator[None]:
        """The one place where aiohttp's exceptions become ours."""
        try:
            yield
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                f"{self.source} did not answer within {self.timeout:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            reason = self.redact(str(exc) or type(exc).__name__)
            raise ProviderUnavailableError(f"{self.source} is unreachable: {reason}") from exc

    def json_of(self, answer: Answer) -> Any:
        """The answer's JSON, or ProviderUnavailableError: whatever answered is not this API."""
        try:
            return json.loads(answer.body)
        except ValueError as exc:
            raise ProviderUnavailableError(
                f"{self.source} answered with something other than JSON "
                f"(HTTP {answer.status}): {self.excerpt(answer.body)}"
            ) from exc

    def refusal(self, answer: Answer, *, credentials: str) -> errors.KanariaError:
        """The outcome error for an answer that is not a success; `credentials` says where the
        user should look when they were refused (e.g. "datadog_api_key in Secret dd.test")."""
        reason = self.reason(answer)
        status = answer.status
        if status in (401, 403):
            return ProviderAuthError(
                f"{self.source} refused the credentials (HTTP {status}); check {credentials}: "
                f"{reason}"
            )
        if status == 429:
            return ProviderUnavailableError(
                f"{self.source} is rate limiting requests (HTTP 429){_retry_hint(answer)}: {reason}"
            )
        if status in (400, 422):
            return QueryError(f"{self.source} rejected the query (HTTP {status}): {reason}")
        if status == 404:
            return ProviderUnavailableError(
                f"{self.source} has no such API (HTTP 404); is the address right? {reason}"
            )
        if status >= 500:
            return ProviderUnavailableError(f"{self.source} failed (HTTP {status}): {reason}")
        return ProviderUnavailableError(f"{self.source} answered HTTP {status}: {reason}")

    def reason(self, answer: Answer) -> str:
        """The error text in an answer's body, redacted and short."""
        try:
            found = reason_in(json.loads(answer.body))
        except ValueError:
            found = ""
        return self.redact(found)[:_EXCERPT_LENGTH] if found else self.excerpt(answer.body)

    def excerpt(self, body: bytes) -> str:
        text = self.redact(body.decode(errors="replace").strip())
        return text if len(text) <= _EXCERPT_LENGTH else text[:_EXCERPT_LENGTH] + "…"

    def add_secret(self, value: str) -> None:
        """One more value to keep out of messages (e.g. a freshly issued token)."""
        if value and value not in self._secrets:
            self._secrets = sorted([*self._secrets, value], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    async def close(self) -> None:
        """Release the session; a later request opens a new one."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = self._connector or aiohttp.TCPConnector(resolver=self._resolver)
            self._session = aiohttp.ClientSession(
                connector=connector,
                connector_owner=self._connector is None,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._headers,
            )
        return self._session


def _retry_hint(answer: Answer) -> str:
    """When the backend says to come back, as it says it: `Retry-After` (RFC 9110, seconds) or
    `X-RateLimit-Reset` (Datadog: seconds to wait; Dynatrace: a time in microseconds)."""
    retry_after = answer.headers.get("retry-after", "").strip()
    if retry_after:
        return f"; retry after {retry_after}" + (" s" if retry_after.isdigit() else "")
    reset = answer.headers.get("x-ratelimit-reset", "").strip()
    return f"; X-RateLimit-Reset: {reset}" if reset else ""
