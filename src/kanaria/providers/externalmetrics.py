"""The Kubernetes External Metrics API as a metrics provider
(`GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>`).

Whatever adapter serves the API (KEDA, Datadog's cluster agent, prometheus-adapter), the query
is `[<namespace>/]<metricName>[?labelSelector=<url-encoded selector>]`, namespace `default`,
and the value the first item's Kubernetes quantity (`123m`, `1.5k`). As Flagger does:
`address` overrides the API server, the optional Secret key `token` is the bearer token,
`insecureSkipVerify` is honoured, the timeout is 5 s. Without an address, kanaria uses the
in-cluster API server and its service-account token and CA, as a client-go rest config does.
Unlike Flagger: several items are an error (Flagger reads the first), and availability asks the
API's discovery document instead of a metric named `dummy-metric` that adapters answer with 404.

aiohttp rather than kubernetes-asyncio: the metric values are not objects the `ObjectClient`
knows, and only `platforms/kubernetes` may use the Kubernetes client library.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import aiohttp.abc

from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    QueryError,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

API_PATH = "/apis/external.metrics.k8s.io/v1beta1"
IN_CLUSTER_ADDRESS = "https://kubernetes.default.svc"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip
_QUANTITY = re.compile(r"(?P<number>[+-]?(\d+\.?\d*|\.\d+))(?P<suffix>[eE][+-]?\d+|[a-zA-Z]*)")
_METRIC_NAME = re.compile(r"[A-Za-z0-9._:-]+")


def quantity_value(text: str) -> float:
    """A Kubernetes quantity (`123m`, `1.5k`, `2Gi`, `1e3`) as a number."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise QueryError(f"external metric value {text!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match["number"]), match["suffix"]
    try:
        if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
            return float(number * Decimal(10) ** int(suffix[1:]))
        return float(number * _SUFFIXES[suffix])
    except (KeyError, InvalidOperation) as exc:
        raise QueryError(f"external metric value {text!r} has an unknown suffix") from exc


def parse_query(query: str) -> tuple[str, str, str]:
    """(namespace, metric name, label selector) from `[ns/]name[?labelSelector=…]`."""
    path, _, raw_params = query.strip().partition("?")
    selector = parse_qs(raw_params).get("labelSelector", [""])[0]
    if path.count("/") > 1:
        raise QueryError(
            f"error parsing metric query: malformed query string, too many slashes: {query!r}"
        )
    namespace, _, name = path.rpartition("/")
    if not name:
        raise QueryError("error parsing metric query: metric name cannot be empty")
    if not _METRIC_NAME.fullmatch(name):
        raise QueryError(f"error parsing metric query: {name!r} is not a metric name")
    return namespace or "default", name, selector


def item_value(payload: Any) -> float:
    items = payload.get("items") if isinstance(payload, dict) else None
    if not items:
        raise NoValuesError("no external metrics found: no values found")
    if len(items) > 1:
        labels = ", ".join(str(item.get("metricLabels") or {}) for item in items[:5])
        raise MultipleValuesError(
            f"the external metric has {len(items)} items ({labels}); narrow the labelSelector"
        )
    return quantity_value(str(items[0].get("value", "")))


class ExternalMetricsProvider:
    """Reads one external metric from the API server (or the adapter behind `address`)."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        service_account: Path = SERVICE_ACCOUNT,
    ) -> None:
        address = settings.address or IN_CLUSTER_ADDRESS
        token = credentials.optional_key(settings.secret, "token")
        ca_file = settings.ca_file
        if not settings.address:
            token = token or _read(service_account / "token")
            ca_file = ca_file or _existing(service_account / "ca.crt")
        self._api = join(backend_url("externalmetrics", address), API_PATH)
        self._where = credentials.where(settings.secret_name, "token")
        self.http = HttpBackend(
            "External metrics API",
            address,
            timeout=settings.timeout,
            headers=[("Authorization", f"Bearer {token}")] if token else [],
            verify_tls=not settings.insecure_skip_verify,
            ca_file=None if settings.insecure_skip_verify else ca_file,
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
    ) -> ExternalMetricsProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"ExternalMetricsProvider({self.http.address!r})"

    async def query(self, query: str) -> float:
        namespace, name, selector = parse_query(query)
        url = join(self._api, f"/namespaces/{namespace}/{name}")
        params = {"labelSelector": selector} if selector else None
        answer = await self.http.request("GET", url, params=params)
        self._check(answer)
        return item_value(self.http.json_of(answer))

    async def is_online(self) -> bool:
        """The API's discovery document answers when an adapter serves it."""
        self._check(await self.http.request("GET", self._api))
        return True

    async def close(self) -> None:
        await self.http.close()

    def _check(self, answer: Answer) -> None:
        if answer.status == 404 and answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            # the API server's own Status: no such metric, or no adapter serves the API
            raise QueryError(f"{self.http.source}: {self.http.reason(answer)}")
        if answer.status != 200:
            raise self.http.refusal(answer, credentials=self._where)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None
