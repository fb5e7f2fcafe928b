"""Prometheus as a metrics provider, over its HTTP API (`/api/v1/query`).

This is the only module that talks HTTP to Prometheus. aiohttp and JSON exceptions are turned
into the outcome errors of `providers.base` here, once, so nothing above sees a foreign
exception. Reading the answer (`parse_query_response`) is a pure function, so every shape of
answer is unit-tested without a socket. Where Flagger silently keeps the last of several
samples, we raise `MultipleValuesError`: a check on an arbitrary series is no check.

Credentials follow Flagger's Secret keys (`token` for a bearer token, or `username` and
`password` for basic auth); they can also come from a mounted Secret directory, a token file, or
environment variables when kanaria runs on one machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.abc
from yarl import URL

from kanaria import errors
from kanaria.providers.base import (
    DEFAULT_TIMEOUT_SECONDS,
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.credentials import credential_text
from kanaria.providers.http import ssl_setting

logger = logging.getLogger(__name__)

ONLINE_QUERY = "vector(1)"
"""Flagger's liveness probe: any working Prometheus answers it with 1."""

MAX_GET_URL_LENGTH = 4000
"""Longer queries go as a POST form, since proxies commonly cap URLs near 4-8 KiB."""

_SHOWN_SERIES = 5
"""How many series a MultipleValuesError names before it says "and N more"."""

DEFAULT_ENV_PREFIX = "KANARIA_PROMETHEUS_"


# --- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BearerToken:
    """An `Authorization: Bearer …` credential (Secret key `token`)."""

    token: str = field(repr=False)

    def authorization(self) -> str:
        return f"Bearer {self.token}"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BearerToken:
        """Read a token file, e.g. a projected service-account token."""
        return cls(_read_credential_file(Path(path)))


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """An `Authorization: Basic …` credential (Secret keys `username` and `password`)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if ":" in self.username:
            raise errors.ConfigError("a basic-auth username cannot contain ':' (RFC 7617)")

    def authorization(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


Credentials = BearerToken | BasicCredentials


def credentials_from_secret(data: Mapping[str, str | bytes]) -> Credentials:
    """Credentials from a Secret's decoded data, with Flagger's precedence: `token` wins."""
    values = {key: credential_text(key, value) for key, value in data.items()}
    if values.get("token"):
        return BearerToken(values["token"])
    missing = [key for key in ("username", "password") if not values.get(key)]
    if missing:
        raise errors.ConfigError(
            "Prometheus credentials need a `token`, or a `username` and a `password`; "
            f"missing: {', '.join(missing)} (found keys: {', '.join(sorted(values)) or 'none'})"
        )
    return BasicCredentials(values["username"], values["password"])


def credentials_from_directory(path: str | os.PathLike[str]) -> Credentials:
    """Credentials from a directory holding files named like the Secret keys (a mounted Secret)."""
    directory = Path(path)
    if not directory.is_dir():
        raise errors.ConfigError(f"credentials directory {directory} does not exist")
    data = {
        key: _read_credential_file(directory / key)
        for key in ("token", "username", "password")
        if (directory / key).is_file()
    }
    return credentials_from_secret(data)


def credentials_from_env(
    prefix: str = DEFAULT_ENV_PREFIX, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Credentials from `<prefix>TOKEN`, or `<prefix>USERNAME` and `<prefix>PASSWORD`.

    None when none of them is set, so "no credentials" and "half the credentials" differ.
    """
    source = os.environ if environ is None else environ
    found = {key: source.get(prefix + key.upper(), "") for key in ("token", "username", "password")}
    data = {key: value for key, value in found.items() if value}
    return credentials_from_secret(data) if data else None


def _read_credential_file(path: Path) -> str:
    try:
        return credential_text(path.name, path.read_bytes())
    except OSError as exc:
        raise errors.ConfigError(f"cannot read credentials file {path}: {exc.strerror}") from exc


# --- reading answers -------------------------------------------------------------------------


def parse_query_response(status: int, body: bytes, *, source: str = "Prometheus") -> float:
    """The single value in a `/api/v1/query` answer, or the outcome error that describes it.

    `source` names the server in messages (e.g. "Prometheus at http://…").
    """
    payload = _json_or_none(body)
    if status != 200 or payload is None or payload.get("status") != "success":
        raise _error_for(status, payload, body, source)
    try:
        return _single_value(payload["data"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProviderUnavailableError(
            f"{source} answered with an unexpected shape: {_excerpt(body)}"
        ) from exc


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _error_for(
    status: int, payload: dict[str, Any] | None, body: bytes, source: str
) -> errors.KanariaError:
    """The outcome error for any answer other than a successful one."""
    reason = _prometheus_reason(payload) or _excerpt(body)
    if status in (400, 422):
        return QueryError(f"{source} rejected the query: {reason}")
    if status in (401, 403):
        return ProviderAuthError(
            f"{source} refused the credentials (HTTP {status}); check the token or "
            f"username/password in the provider's Secret: {reason}"
        )
    if status >= 500:
        return ProviderUnavailableError(f"{source} failed (HTTP {status}): {reason}")
    if payload is None or "status" not in payload:
        return ProviderUnavailableError(
            f"{source} is not a Prometheus query API (HTTP {status}): {_excerpt(body)}"
        )
    return ProviderUnavailableError(f"{source} answered HTTP {status}: {reason}")


def _prometheus_reason(payload: dict[str, Any] | None) -> str:
    if payload is None or "error" not in payload:
        return ""
    kind = payload.get("errorType")
    return f"{kind}: {payload['error']}" if kind else str(payload["error"])


def _single_value(data: dict[str, Any]) -> float:
    result_type, result = data["resultType"], data["result"]
    if result_type == "scalar":
        return _sample_value(result)
    if result_type == "vector":
        return _vector_value(result)
    if result_type == "matrix":
        raise MultipleValuesError(
            f"the query returned a range vector ({len(result)} series with many values each); "
            "metric checks need an instant value, e.g. wrap it in rate(...) or sum(...)"
        )
    raise QueryError(f"the query returned a {result_type}, not a number")


def _vector_value(samples: list[dict[str, Any]]) -> float:
    if not samples:
        raise NoValuesError("no values found: the query returned an empty result")
    if len(samples) > 1:
        raise MultipleValuesError(
            f"the query returned {len(samples)} series, expected one; aggregate them "
            f"(e.g. with sum): {_describe_series(samples)}"
        )
    return _sample_value(samples[0]["value"])


def _sample_value(sample: list[Any]) -> float:
    """The number in a `[timestamp, "value"]` pair; NaN counts as no value, as in Flagger."""
    value = float(sample[1])
    if math.isnan(value):
        raise NoValuesError(
            "no values found: the query returned NaN (0/0: was anything requested in the window?)"
        )
    return value


def _describe_series(samples: list[dict[str, Any]]) -> str:
    shown = ", ".join(_series_name(sample.get("metric", {})) for sample in samples[:_SHOWN_SERIES])
    hidden = len(samples) - _SHOWN_SERIES
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def _series_name(labels: dict[str, str]) -> str:
    """A series as Prometheus prints it: `name{label="value", …}`."""
    name = labels.get("__name__", "")
    shown = sorted((key, value) for key, value in labels.items() if key != "__name__")
    pairs = ", ".join(f'{key}="{value}"' for key, value in shown)
    return f"{name}{{{pairs}}}"


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode(errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


# --- the provider ----------------------------------------------------------------------------


class PrometheusProvider:
    """Runs instant queries against one Prometheus; reuses one aiohttp session.

    Close it with `await provider.close()` or use it as `async with`. `resolver` or `connector`
    let the local platform resolve service names itself; a passed connector is not closed here.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        credentials: Credentials | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        verify_tls: bool = True,
        ca_file: str | os.PathLike[str] | None = None,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        if timeout <= 0:
            raise errors.ConfigError(f"Prometheus timeout must be positive, got {timeout}")
        self.address = address
        self.timeout = timeout
        self._query_url = _query_url(address)
        self._headers = _request_headers(headers or {}, credentials)
        self._ssl = ssl_setting(verify_tls, ca_file)
        self._resolver = resolver
        self._connector = connector
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> PrometheusProvider:
        """A provider as a MetricTemplate describes it (credentials from its Secret's data)."""
        secret = settings.secret
        return cls(
            settings.address,
            timeout=settings.timeout,
            credentials=None if secret is None else credentials_from_secret(secret),
            headers=settings.headers,
            verify_tls=not settings.insecure_skip_verify,
            ca_file=settings.ca_file,
            resolver=resolver,
            connector=connector,
        )

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.address!r})"

    async def query(self, promql: str) -> float:
        """Run an instant query; see `MetricsProvider.query` for the outcomes."""
        started = time.monotonic()
        status, body = await self._send(promql)
        logger.debug("query %r: HTTP %s in %.3f s", promql, status, time.monotonic() - started)
        return parse_query_response(status, body, source=self._source())

    async def is_online(self) -> bool:
        """True when Prometheus answers `vector(1)` with 1; raises if it cannot be reached."""
        try:
            return await self.query(ONLINE_QUERY) == 1
        except (NoValuesError, MultipleValuesError, QueryError):
            return False

    async def close(self) -> None:
        """Release the session; a later query opens a new one."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> PrometheusProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, promql: str) -> tuple[int, bytes]:
        """POST when a GET URL would be too long; both are the same query to Prometheus."""
        form = {"query": promql}
        with self._transport_errors():
            if len(str(self._query_url.with_query(form))) <= MAX_GET_URL_LENGTH:
                request = self._client().get(self._query_url, params=form, ssl=self._ssl)
            else:
                request = self._client().post(self._query_url, data=form, ssl=self._ssl)
            async with request as response:
                return response.status, await response.read()

    @contextlib.contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """The one place where aiohttp's exceptions become ours."""
        try:
            yield
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                f"{self._source()} did not answer within {self.timeout:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailableError(
                f"{self._source()} is unreachable: {exc or type(exc).__name__}"
            ) from exc

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

    def _source(self) -> str:
        return f"Prometheus at {self.address}"


def _query_url(address: str) -> URL:
    """`<address>/api/v1/query`, keeping a path prefix such as `/prometheus` (as Flagger does)."""
    try:
        url = URL(address.strip())
    except (TypeError, ValueError) as exc:
        raise errors.ConfigError(f"Prometheus address {address!r} is not a URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.ConfigError(
            f"Prometheus address {address!r} must be an http:// or https:// URL with a host"
        )
    path = url.path.rstrip("/") + "/api/v1/query"
    return url.with_query(None).with_fragment(None).with_path(path)


def _request_headers(
    headers: Mapping[str, str | Sequence[str]], credentials: Credentials | None
) -> list[tuple[str, str]]:
    """Flat header pairs; credentials replace any `Authorization` header, as in Flagger."""
    pairs = [
        (name, value)
        for name, values in headers.items()
        for value in ([values] if isinstance(values, str) else values)
    ]
    if credentials is None:
        return pairs
    pairs = [(name, value) for name, value in pairs if name.lower() != "authorization"]
    return [*pairs, ("Authorization", credentials.authorization())]
