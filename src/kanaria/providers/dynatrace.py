"""Dynatrace as a metrics provider, over the metrics API v2 (`GET /api/v2/metrics/query`).

As Flagger does: the address (the environment's URL, e.g. `https://abc123.live.dynatrace.com`)
is required, the token comes from the Secret key `dynatrace_token` and goes as
`Authorization: Api-Token …`, the query is the `metricSelector`, with `resolution=Inf` over the
last 10 × the metric's interval in milliseconds; availability is
`GET /api/v2/metrics?pageSize=1`. Unlike Flagger, which reads the last series of the first
metric, several metrics or several series (dimensions) are an error, and null values are
"no values" rather than 0.

aiohttp: Dynatrace publishes no Python client for the metrics API v2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    lookback_seconds,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

LOOKBACK_INTERVALS = 10
TOKEN_KEY = "dynatrace_token"


def metric_value(payload: Any) -> float:
    """The value in a metrics query answer: one metric, one series, one non-null value."""
    results = payload.get("result") if isinstance(payload, dict) else None
    if not results:
        raise NoValuesError("no values found: Dynatrace returned no metric for the selector")
    if len(results) > 1:
        ids = ", ".join(str(result.get("metricId")) for result in results[:5])
        raise MultipleValuesError(f"the selector matched {len(results)} metrics ({ids})")
    series = results[0].get("data") or []
    if not series:
        raise NoValuesError("no values found: the metric has no data points in the window")
    if len(series) > 1:
        dimensions = ", ".join(str(each.get("dimensionMap") or {}) for each in series[:5])
        raise MultipleValuesError(
            f"the selector returned {len(series)} series ({dimensions}); "
            "aggregate them, e.g. with :splitBy()"
        )
    values = [value for value in series[0].get("values") or [] if value is not None]
    if not values:
        raise NoValuesError("no values found: the series' values are null in the window")
    return float(values[0])


class DynatraceProvider:
    """Runs metric selectors over a window of 10 × the metric's interval."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not settings.address:
            raise errors.ConfigError("dynatrace endpoint is not set (provider.address)")
        token = credentials.required_keys(
            "dynatrace", settings.secret, (TOKEN_KEY,), settings.secret_name
        )[TOKEN_KEY]
        self._base = backend_url("dynatrace", settings.address)
        self._lookback_ms = int(lookback_seconds("dynatrace", settings, LOOKBACK_INTERVALS) * 1000)
        self._where = credentials.where(settings.secret_name, TOKEN_KEY)
        self._now = now
        self.http = HttpBackend(
            "Dynatrace",
            settings.address,
            timeout=settings.timeout,
            headers=[("Authorization", f"Api-Token {token}")],
            secrets=[token],
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
    ) -> DynatraceProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"DynatraceProvider({self.http.address!r})"

    def query_params(self, selector: str) -> dict[str, str]:
        """Flagger's parameters: times in milliseconds from whole seconds, one value (`Inf`)."""
        now_ms = int(self._now()) * 1000
        return {
            "from": str(now_ms - self._lookback_ms),
            "metricSelector": selector,
            "resolution": "Inf",
            "to": str(now_ms),
        }

    async def query(self, query: str) -> float:
        url = join(self._base, "/api/v2/metrics/query")
        answer = await self.http.request("GET", url, params=self.query_params(query))
        self._check(answer)
        return metric_value(self.http.json_of(answer))

    async def is_online(self) -> bool:
        url = join(self._base, "/api/v2/metrics")
        self._check(await self.http.request("GET", url, params={"pageSize": "1"}))
        return True

    async def close(self) -> None:
        await self.http.close()

    def _check(self, answer: Answer) -> None:
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)
