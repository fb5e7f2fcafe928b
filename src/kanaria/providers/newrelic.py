"""New Relic as a metrics provider, over the Insights query API
(`GET /v1/accounts/<account>/query?nrql=…`).

As Flagger does: the account and the query key come from the Secret keys
`newrelic_account_id` and `newrelic_query_key` (sent as `X-Query-Key`); the NRQL gets
` SINCE <interval> seconds ago` appended (1 × the metric's interval, not 10 ×); the value is the
`result` key of the one result; availability runs `SELECT * FROM Metric SINCE … seconds ago`.
Unlike Flagger, several results are an error rather than "no values", and a result without a
`result` key (e.g. `count(*)` not aliased `AS result`) is a query error that names the keys
found — Flagger calls both "no values found", which reads like a canary without traffic.

aiohttp: New Relic publishes no Python client for this API (its `newrelic` package is the APM
agent).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    QueryError,
    lookback_seconds,
)
from kanaria.providers.http import HttpBackend, backend_url, join

DEFAULT_ADDRESS = "https://insights-api.newrelic.com"
ACCOUNT_KEY, QUERY_KEY = "newrelic_account_id", "newrelic_query_key"
ONLINE_QUERY = "SELECT * FROM Metric"


def result_value(payload: Any) -> float:
    """The `result` of the one element of `results`, or the outcome that explains why not."""
    results = payload.get("results") if isinstance(payload, dict) else None
    if not results:
        raise NoValuesError("no values found: New Relic returned no results for the NRQL")
    if len(results) > 1:
        raise MultipleValuesError(
            f"the NRQL returned {len(results)} results, expected one (select one aggregate)"
        )
    first = results[0] if isinstance(results[0], dict) else {}
    if "result" not in first:
        found = ", ".join(sorted(first)) or "none"
        raise QueryError(
            f"the NRQL result has no `result` key (keys: {found}); name the aggregate "
            "`AS result` or use one that yields `result`, e.g. percentage()"
        )
    if first["result"] is None:
        raise NoValuesError("no values found: the NRQL result is null")
    return float(first["result"])


class NewRelicProvider:
    """Runs NRQL over the last metric interval."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        keys = credentials.required_keys(
            "newrelic", settings.secret, (ACCOUNT_KEY, QUERY_KEY), settings.secret_name
        )
        address = settings.address or DEFAULT_ADDRESS
        account = keys[ACCOUNT_KEY]
        if not account.isdigit():
            raise errors.ConfigError(
                f"newrelic: `{ACCOUNT_KEY}` in {settings.secret_name or 'the Secret'} "
                "is not a numeric account id"
            )
        self._url = join(backend_url("newrelic", address), f"/v1/accounts/{account}/query")
        self._since = max(1, int(lookback_seconds("newrelic", settings, 1)))
        self._where = credentials.where(settings.secret_name, ACCOUNT_KEY, QUERY_KEY)
        self.http = HttpBackend(
            "New Relic",
            address,
            timeout=settings.timeout,
            headers=[("X-Query-Key", keys[QUERY_KEY]), ("Accept", "application/json")],
            secrets=[keys[QUERY_KEY]],
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
    ) -> NewRelicProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"NewRelicProvider({self.http.address!r})"

    def nrql(self, query: str) -> str:
        return f"{query} SINCE {self._since} seconds ago"

    async def query(self, query: str) -> float:
        return result_value(await self._run(self.nrql(query)))

    async def is_online(self) -> bool:
        await self._run(self.nrql(ONLINE_QUERY))
        return True

    async def close(self) -> None:
        await self.http.close()

    async def _run(self, nrql: str) -> Any:
        answer = await self.http.request("GET", self._url, params={"nrql": nrql})
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)
        return self.http.json_of(answer)
