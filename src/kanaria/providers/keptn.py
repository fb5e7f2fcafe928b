"""Keptn as a metrics provider: a KeptnMetric's value, or the verdict of a Keptn Analysis.

Keptn keeps its numbers in Kubernetes objects, so this provider reads and writes them through
the platform's `ObjectClient` (the API server on a cluster, the local store on one machine) —
no HTTP of its own. As Flagger does: the query is
`<keptnmetric|analysis>/<namespace>/<name>[/<duration>[/<k>=<v>;…]]`, lower-cased; a
KeptnMetric's `status.value` is parsed as a number; an Analysis named `<name>-<6 random hex>`
is created with the AnalysisDefinition `<name>`, the timeframe `<duration>` (default `1m`) and
the arguments, polled every second for up to 10 seconds, read as 1 when it passed and 0 when it
failed, and deleted; the provider is always online.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers.base import ProviderSettings, QueryError
from kanaria.spec.objects import Kind, ObjectClient

logger = logging.getLogger(__name__)

KEPTN_METRIC = Kind("metrics.keptn.sh/v1beta1", "KeptnMetric")
ANALYSIS = Kind("metrics.keptn.sh/v1beta1", "Analysis")
METRIC_KINDS = frozenset({"keptnmetric", "keptnmetrics"})
ANALYSIS_KINDS = frozenset({"analysis", "analyses"})
DEFAULT_TIMEFRAME = "1m"
POLL_SECONDS = 1.0
ANALYSIS_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class KeptnQuery:
    kind: str
    namespace: str
    name: str
    timeframe: str = DEFAULT_TIMEFRAME
    arguments: dict[str, str] = field(default_factory=dict)


def parse_query(query: str) -> KeptnQuery:
    """Flagger's query format; the whole query is lower-cased first, as Flagger does."""
    parts = query.strip().lower().split("/")
    if len(parts) < 3 or not all(parts[:3]):
        raise QueryError(
            "unexpected query format. query must be in the format "
            "<keptnmetric|analysis>/<namespace>/<resourceName>/<duration>/<arguments>"
        )
    kind = parts[0]
    if kind not in METRIC_KINDS | ANALYSIS_KINDS:
        raise QueryError(
            f"unexpected resource kind {kind!r} in the keptn query; "
            "must be one of: keptnmetric, analysis"
        )
    timeframe = parts[3] if len(parts) > 3 and parts[3] else DEFAULT_TIMEFRAME
    return KeptnQuery(kind, parts[1], parts[2], timeframe, _arguments(parts[4:5]))


def _arguments(text: list[str]) -> dict[str, str]:
    """`k1=v1;k2=v2`; a pair that does not split in exactly two on `=` is dropped."""
    arguments: dict[str, str] = {}
    for pair in text[0].split(";") if text else []:
        key, separator, value = pair.partition("=")
        if separator and "=" not in value:
            arguments[key] = value
    return arguments


def metric_value(metric: dict[str, Any], where: str) -> float:
    value = (metric.get("status") or {}).get("value")
    if value in (None, ""):
        raise errors.TemporaryError(
            f"could not retrieve KeptnMetric - no value found in resource {where}"
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise QueryError(
            f"could not parse value of KeptnMetric {where} to float: {value!r}"
        ) from exc


class KeptnProvider:
    """Reads KeptnMetrics and runs Keptn Analyses through the platform's object store."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll_seconds: float = POLL_SECONDS,
        timeout_seconds: float = ANALYSIS_TIMEOUT_SECONDS,
    ) -> None:
        if settings.objects is None:
            raise errors.ConfigError(
                "could not initialize KeptnProvider: no object store (Kubernetes API) given"
            )
        self.objects: ObjectClient = settings.objects
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._polls = max(1, round(timeout_seconds / poll_seconds))

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> KeptnProvider:
        return cls(settings)

    def __repr__(self) -> str:
        return "KeptnProvider()"

    async def query(self, query: str) -> float:
        parsed = parse_query(query)
        if parsed.kind in METRIC_KINDS:
            return await self._metric(parsed)
        return await self._analysis(parsed)

    async def is_online(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def _metric(self, query: KeptnQuery) -> float:
        where = f"{query.namespace}/{query.name}"
        found = await self.objects.get(KEPTN_METRIC, query.namespace, query.name)
        if found is None:
            raise QueryError(f"could not retrieve KeptnMetric {where}: not found")
        return metric_value(found, where)

    async def _analysis(self, query: KeptnQuery) -> float:
        name = f"{query.name}-{uuid.uuid4().hex[:6]}"
        where = f"{query.namespace}/{name}"
        await self.objects.create(_analysis_object(query, name))
        try:
            return await self._verdict(query.namespace, name, where)
        finally:
            await self._delete(query.namespace, name, where)

    async def _verdict(self, namespace: str, name: str, where: str) -> float:
        for _ in range(self._polls):
            await self._sleep(self._poll_seconds)
            found = await self.objects.get(ANALYSIS, namespace, name)
            status = (found or {}).get("status") or {}
            if status.get("state") == "Completed" and "pass" in status:
                return 1.0 if status["pass"] else 0.0
        raise errors.TemporaryError(
            f"encountered timeout while waiting for Keptn Analysis {where} to be finished"
        )

    async def _delete(self, namespace: str, name: str, where: str) -> None:
        try:
            await self.objects.delete(ANALYSIS, namespace, name)
        except errors.KanariaError as exc:
            logger.warning("could not delete Keptn Analysis %s: %s", where, exc)


def _analysis_object(query: KeptnQuery, name: str) -> dict[str, Any]:
    return ANALYSIS.new(
        query.namespace,
        name,
        spec={
            "analysisDefinition": {"name": query.name},
            "timeframe": {"recent": query.timeframe},
            "args": query.arguments,
        },
    )
