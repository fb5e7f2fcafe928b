"""Datadog as a metrics provider, over its metrics query API v1 (`GET /api/v1/query`).

As Flagger does: the query runs over the last 10 × the metric's interval, with the
`DD-API-KEY` and `DD-APPLICATION-KEY` headers from the Secret keys `datadog_api_key` and
`datadog_application_key`; the value is the first (oldest) point of the series, because the
newest bucket of a window that ends now is almost always incomplete; availability is
`GET /api/v1/validate`. Unlike Flagger, several series are an error (a check on an arbitrary
one of them is no check), and a null first point is skipped rather than read as 0.

aiohttp rather than Datadog's `datadog-api-client`: that package is tens of megabytes of
generated models, and its asyncio mode needs another HTTP library, for one GET.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import aiohttp.abc

from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    QueryError,
    lookback_seconds,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

DEFAULT_ADDRESS = "https://api.datadoghq.com"
LOOKBACK_INTERVALS = 10
API_KEY, APPLICATION_KEY = "datadog_api_key", "datadog_application_key"


def series_value(payload: Any) -> float:
    """The value in a `/api/v1/query` answer: the first non-null point of its one series."""
    if not isinstance(payload, dict):
        raise QueryError(f"Datadog answered with something other than a query result: {payload}")
    if payload.get("status") == "error":
        raise QueryError(f"Datadog rejected the query: {payload.get('error', '')}")
    series = payload.get("series") or []
    if not series:
        raise NoValuesError("no values found: Datadog returned no series for the query")
    if len(series) > 1:
        scopes = ", ".join(str(each.get("scope", "?")) for each in series[:5])
        raise MultipleValuesError(
            f"the query returned {len(series)} series ({scopes}), expected one; "
            "aggregate them (e.g. sum:…{…} without `by`)"
        )
    points = [point[1] for point in series[0].get("pointlist") or [] if len(point) > 1]
    values = [value for value in points if value is not None]
    if not values:
        raise NoValuesError("no values found: the series has no points in the window")
    return float(values[0])


class DatadogProvider:
    """Runs Datadog metric queries over a window of 10 × the metric's interval."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        keys = credentials.required_keys(
            "datadog", settings.secret, (API_KEY, APPLICATION_KEY), settings.secret_name
        )
        address = settings.address or DEFAULT_ADDRESS
        self._base = backend_url("datadog", address)
        self._lookback = lookback_seconds("datadog", settings, LOOKBACK_INTERVALS)
        self._where = credentials.where(settings.secret_name, API_KEY, APPLICATION_KEY)
        self._now = now
        self.http = HttpBackend(
            "Datadog",
            address,
            timeout=settings.timeout,
            headers=[("DD-API-KEY", keys[API_KEY]), ("DD-APPLICATION-KEY", keys[APPLICATION_KEY])],
            secrets=keys.values(),
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
    ) -> DatadogProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"DatadogProvider({self.http.address!r})"

    def query_params(self, query: str) -> dict[str, str]:
        """`from`, `query` and `to`, in whole Unix seconds, as Flagger sends them."""
        now = int(self._now())
        return {"from": str(now - int(self._lookback)), "query": query, "to": str(now)}

    async def query(self, query: str) -> float:
        answer = await self.http.request(
            "GET", join(self._base, "/api/v1/query"), params=self.query_params(query)
        )
        self._check(answer)
        try:
            return series_value(self.http.json_of(answer))
        except QueryError as exc:
            raise QueryError(self.http.redact(str(exc))) from exc

    async def is_online(self) -> bool:
        """True when `/api/v1/validate` accepts the keys; raises with the reason otherwise."""
        self._check(await self.http.request("GET", join(self._base, "/api/v1/validate")))
        return True

    async def close(self) -> None:
        await self.http.close()

    def _check(self, answer: Answer) -> None:
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)
