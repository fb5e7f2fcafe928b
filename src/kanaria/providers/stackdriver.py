"""Google Cloud Monitoring (Stackdriver) as a metrics provider: an MQL query through
`projects.timeSeries.query` (`POST /v3/projects/<project>/timeSeries:query`).

As Flagger does: with a Secret, `project` is required and `serviceAccountKey` (a JSON key) is
optional, Application Default Credentials (workload identity, metadata server,
`GOOGLE_APPLICATION_CREDENTIALS`) stand in when it is absent; the query is the rendered MQL,
which carries its own window; the value is the first point of the first series; availability
sends an empty query and takes "invalid argument" as an answer. Flagger calls the same method
over gRPC; this is its documented REST form. Kanaria additions: without a Secret the project
comes from the default credentials; `address` overrides the API endpoint (a private endpoint);
several series are an error, and int64 and bool values are read (Flagger reads them as 0).

google-auth (Google's maintained auth library) signs and refreshes the tokens — service
account JWTs, the metadata server, workload identity federation — which no one should write
by hand; the query itself is one POST, for which `google-cloud-monitoring`'s gRPC stack
(grpcio, protobuf, api-core: tens of megabytes) does not earn its place.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import aiohttp
import aiohttp.abc
import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
from google.oauth2 import service_account

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

DEFAULT_ADDRESS = "https://monitoring.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/monitoring.read",)
PROJECT_KEY, KEY_FILE_KEY = "project", "serviceAccountKey"


def series_value(payload: Any) -> float:
    """The first value of the first point of the one series in a `timeSeries:query` answer."""
    series = payload.get("timeSeriesData") if isinstance(payload, dict) else None
    if not series:
        raise NoValuesError("no values found: the MQL query returned no time series")
    if len(series) > 1:
        labels = ", ".join(_labels(each) for each in series[:5])
        raise MultipleValuesError(
            f"the MQL query returned {len(series)} time series ({labels}); aggregate them, "
            "e.g. with | group_by [], sum(val())"
        )
    points = series[0].get("pointData") or []
    values = (points[0].get("values") or []) if points else []
    if not values:
        raise NoValuesError("no values found: the time series has no point in the window")
    return _typed_value(values[0])


def _typed_value(value: Mapping[str, Any]) -> float:
    """A TypedValue: int64 comes as a JSON string, as proto3's JSON mapping says."""
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "int64Value" in value:
        return float(int(value["int64Value"]))
    if "boolValue" in value:
        return 1.0 if value["boolValue"] else 0.0
    kinds = ", ".join(value) or "nothing"
    raise QueryError(f"the MQL query's value is {kinds}, not a number")


def _labels(series: Mapping[str, Any]) -> str:
    values = [str(next(iter(label.values()), "")) for label in series.get("labelValues") or []]
    return "{" + ", ".join(values) + "}"


class UrllibRequest(google.auth.transport.Request):
    """google-auth's transport over the standard library, for token refreshes in a thread."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or 30) as response:
                return _Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, dict(exc.headers), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            # google-auth's exceptions are untyped
            raise google.auth.exceptions.TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]


class _Response(google.auth.transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, headers, data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


def google_credentials(
    secret: Mapping[str, str | bytes] | None, secret_name: str
) -> tuple[google.auth.credentials.Credentials, str]:
    """Credentials and project: the Secret's key and project, else the default credentials'."""
    project = credentials.optional_key(secret, PROJECT_KEY)
    if secret is not None and not project:
        credentials.required_keys("stackdriver", secret, (PROJECT_KEY,), secret_name)
    key_text = credentials.optional_key(secret, KEY_FILE_KEY)
    if key_text:
        return _from_key(key_text, secret_name), project
    try:
        found, default_project = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise errors.ConfigError(
            "stackdriver: no `serviceAccountKey` in the Secret and no Application Default "
            f"Credentials: {exc}"
        ) from exc
    if not (project or default_project):
        raise errors.ConfigError("stackdriver needs a `project` in the Secret")
    return found, project or str(default_project)


def _from_key(key_text: str, secret_name: str) -> google.auth.credentials.Credentials:
    where = f"Secret {secret_name}" if secret_name else "the Secret"
    try:
        info = json.loads(key_text)
        found: google.auth.credentials.Credentials = (
            service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=SCOPES
            )
        )
    except (ValueError, TypeError, KeyError) as exc:
        # the key's content never goes in the message
        raise errors.ConfigError(
            f"stackdriver: `{KEY_FILE_KEY}` in {where} is not a service account JSON key "
            f"({type(exc).__name__})"
        ) from None
    return found


class StackdriverProvider:
    """Runs MQL queries against Cloud Monitoring with a refreshed OAuth token."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        resolved: tuple[google.auth.credentials.Credentials, str] | None = None,
    ) -> None:
        self._credentials, self.project = resolved or google_credentials(
            settings.secret, settings.secret_name
        )
        address = settings.address or DEFAULT_ADDRESS
        self._url = join(backend_url("stackdriver", address), f"/v3/projects/{self.project}")
        self._url = self._url.with_path(self._url.path + "/timeSeries:query")
        self._where = credentials.where(settings.secret_name, KEY_FILE_KEY, PROJECT_KEY)
        self._lock = asyncio.Lock()
        self.http = HttpBackend(
            "Cloud Monitoring",
            address,
            timeout=settings.timeout,
            secrets=_secret_texts(settings.secret),
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
    ) -> StackdriverProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"StackdriverProvider({self.project!r})"

    async def query(self, query: str) -> float:
        answer = await self._post(query)
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)
        return series_value(self.http.json_of(answer))

    async def is_online(self) -> bool:
        """An empty query must be refused as an invalid argument (or answered)."""
        answer = await self._post("")
        if answer.status in (200, 400):
            return True
        raise self.http.refusal(answer, credentials=self._where)

    async def close(self) -> None:
        await self.http.close()

    async def _post(self, mql: str) -> Answer:
        headers = {"Authorization": f"Bearer {await self._token()}"}
        return await self.http.request("POST", self._url, json_body={"query": mql}, headers=headers)

    async def _token(self) -> str:
        """A valid access token, refreshed in a thread (google-auth's refresh blocks)."""
        async with self._lock:
            if not self._credentials.valid:
                await self._refresh()
            return str(self._credentials.token)

    async def _refresh(self) -> None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._credentials.refresh, UrllibRequest()),
                timeout=self.http.timeout * 2,
            )
        except TimeoutError as exc:
            raise ProviderUnavailableError(
                "stackdriver: the token endpoint did not answer in time"
            ) from exc
        except google.auth.exceptions.RefreshError as exc:
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            raise ProviderAuthError(
                f"stackdriver: Google refused the credentials ({self._where}): "
                f"{self.http.redact(reason)}"
            ) from exc
        except google.auth.exceptions.TransportError as exc:
            raise ProviderUnavailableError(
                f"stackdriver: the token endpoint is unreachable: {self.http.redact(str(exc))}"
            ) from exc
        # the new token is a secret too
        self.http.add_secret(str(self._credentials.token))


def _secret_texts(secret: Mapping[str, str | bytes] | None) -> list[str]:
    key_text = credentials.optional_key(secret, KEY_FILE_KEY)
    if not key_text:
        return []
    try:
        info = json.loads(key_text)
    except ValueError:
        return [key_text]
    return [str(info.get("private_key", "")), str(info.get("private_key_id", ""))]
