"""The contract between a metrics backend and the checks that read it, and its outcomes.

A provider only runs a query and says whether it is reachable (Flagger's two methods); it knows
nothing about meshes, canaries or thresholds. What a query *means* lives in `queries/`, how it is
filled in lives in `render.py`, and what a value is judged against lives in `analysis/`.

The outcomes of a query are distinct exception classes, because the analysis treats them
differently: "no values" means the canary probably gets no traffic yet; "several values" and a
rejected query mean the query itself is wrong; an unreachable provider is passing trouble to
retry on the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kanaria import errors
from kanaria.spec.objects import ObjectClient

DEFAULT_TIMEOUT_SECONDS = 5.0
"""Flagger's query timeout, kept so a slow Prometheus fails the same way."""


class MetricsProvider(Protocol):
    """A metrics backend that turns one query into one number."""

    async def query(self, promql: str) -> float:
        """Run an instant query and return its single value.

        Raises `NoValuesError`, `MultipleValuesError`, `QueryError` or
        `ProviderUnavailableError`.
        """
        ...

    async def is_online(self) -> bool:
        """Whether the backend answers a trivial query with the expected value.

        Returns False when it answers with anything else; raises `ProviderUnavailableError`
        when it cannot be asked at all, so the caller can say why.
        """
        ...


class ClosableMetricsProvider(MetricsProvider, Protocol):
    """A provider that holds connections; whoever built it closes it when done."""

    async def close(self) -> None:
        """Release connections. The provider must not be used afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What a MetricTemplate's `spec.provider` says, as plain values, plus our own knobs.

    `address` is empty when the template sets none (each backend has its own default or
    requires one). `secret` is the *decoded* data of the Secret named by `secretRef` (None when
    there is no `secretRef`), and `secret_name` names that Secret (`name.namespace`) in
    messages; `headers` may hold lists, as Go's `http.Header` does. `interval` is the metric's
    interval in seconds as the platform runs it (time scale applied): Datadog, CloudWatch,
    Dynatrace and Splunk look back 10 × it, New Relic 1 ×, as Flagger does. `objects` is the
    platform's object store, for the backends that live in the Kubernetes API (Keptn).
    """

    address: str = ""
    headers: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    secret: Mapping[str, str | bytes] | None = field(default=None, repr=False)
    insecure_skip_verify: bool = False
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    region: str = ""
    interval: float | None = None
    secret_name: str = ""
    objects: ObjectClient | None = field(default=None, compare=False)


class NoValuesError(errors.TemporaryError):
    """The query returned no sample, or NaN (e.g. 0/0 when nothing was requested).

    Flagger's "no values found": usually the workload receives no traffic yet.
    """


class MultipleValuesError(errors.ConfigError):
    """The query returned several series or a range vector; it needs an aggregation."""


class QueryError(errors.ConfigError):
    """The backend rejected the query itself (bad syntax, bad matching, not a number)."""


class ProviderUnavailableError(errors.TemporaryError):
    """The backend could not be asked: refused, timed out, 5xx, or not a metrics API."""


class ProviderAuthError(ProviderUnavailableError):
    """The backend refused our credentials (401/403).

    Temporary, because the credentials live in a Secret the user may fix without touching
    the Canary; distinct, so the message can point at that Secret.
    """


def lookback_seconds(type_name: str, settings: ProviderSettings, multiple: int) -> float:
    """How far back a backend that takes a time range looks: `multiple` × the metric interval."""
    if settings.interval is None or settings.interval <= 0:
        raise errors.ConfigError(
            f"{type_name} queries look back {multiple} × the metric's interval, "
            "but the metric has no interval"
        )
    return multiple * settings.interval
