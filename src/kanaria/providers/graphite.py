"""Graphite as a metrics provider, over graphite-web's render API (`GET /render`).

As Flagger does: the template's query is the render API's query string
(`target=…&from=-5min`), sent with `format=json` forced; the address is required and its path
kept as a prefix; `username` and `password` from the Secret (when one is named) go as basic
auth; `insecureSkipVerify` is honoured; the value is the last non-null datapoint; availability
runs `target=test` and accepts "no values" as an answer. Unlike Flagger, which walks every
series and keeps the last value it meets, several series are an error.

aiohttp: graphite-web has no client library; the render API is one GET.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import aiohttp.abc

from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    QueryError,
)
from kanaria.providers.http import HttpBackend, backend_url, join
from kanaria.providers.prometheus import BasicCredentials

ONLINE_QUERY = "target=test"


def render_params(query: str) -> list[tuple[str, str]]:
    """The query string's parameters, sorted by name as Go encodes them, with `format=json`."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise QueryError(
            f"a graphite query is a render API query string such as "
            f"`target=…&from=-5min`, got {query[:80]!r}"
        ) from exc
    if not any(name == "target" for name, _ in pairs):
        raise QueryError(f"the graphite query has no `target=`: {query[:80]!r}")
    kept = [(name, value) for name, value in pairs if name != "format"]
    return sorted([*kept, ("format", "json")], key=lambda pair: pair[0])


def last_value(series: Any) -> float:
    """The last non-null datapoint of the one series in a render answer."""
    if not isinstance(series, list):
        raise QueryError(f"graphite answered with something other than a list of series: {series}")
    if not series:
        raise NoValuesError("no values found: graphite returned no series for the target")
    if len(series) > 1:
        names = ", ".join(str(each.get("target")) for each in series[:5])
        raise MultipleValuesError(
            f"the target returned {len(series)} series ({names}); aggregate them, "
            "e.g. with sumSeries()"
        )
    values = [_number(point) for point in series[0].get("datapoints") or []]
    found = [value for value in values if value is not None]
    if not found:
        raise NoValuesError(
            f"no values found: every datapoint of {series[0].get('target')} is null in the window"
        )
    return found[-1]


def _number(point: Sequence[Any]) -> float | None:
    if len(point) != 2:
        raise QueryError(f"a graphite datapoint is [value, timestamp], got {point}")
    value = point[0]
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class GraphiteProvider:
    """Runs render API queries against one graphite-web."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        self._render = join(backend_url("graphite", settings.address), "/render")
        headers, secrets = [], []
        if settings.secret is not None:
            keys = credentials.required_keys(
                "graphite", settings.secret, ("username", "password"), settings.secret_name
            )
            basic = BasicCredentials(keys["username"], keys["password"]).authorization()
            headers.append(("Authorization", basic))
            secrets = [keys["password"], basic.removeprefix("Basic ")]
        self._where = credentials.where(settings.secret_name, "username", "password")
        self.http = HttpBackend(
            "Graphite",
            settings.address,
            timeout=settings.timeout,
            headers=headers,
            verify_tls=not settings.insecure_skip_verify,
            ca_file=settings.ca_file,
            secrets=secrets,
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
    ) -> GraphiteProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"GraphiteProvider({self.http.address!r})"

    async def query(self, query: str) -> float:
        answer = await self.http.request("GET", self._render, params=render_params(query))
        if answer.status >= 400:
            raise self.http.refusal(answer, credentials=self._where)
        return last_value(self.http.json_of(answer))

    async def is_online(self) -> bool:
        """Online when graphite answers `target=test`, with values or without."""
        with contextlib.suppress(NoValuesError, MultipleValuesError):
            await self.query(ONLINE_QUERY)
        return True

    async def close(self) -> None:
        await self.http.close()
