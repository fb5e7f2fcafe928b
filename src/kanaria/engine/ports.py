"""The engine's view of the world: the small interfaces it acts through, and nothing else.

Each platform provides these (the local platform over SQLite, Envoy and processes; the operator
over the Kubernetes API), and the unit tests provide in-memory ones on simulated time, so one
engine runs everywhere. Every method takes the Canary it acts for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kanaria.analysis.counts import Counts
from kanaria.clock import Clock
from kanaria.routing.base import Router, Routes
from kanaria.spec.canary import Canary, Metric, Webhook
from kanaria.webhooks.client import HookPayload
from kanaria.workloads.base import Revision, Target

__all__ = ["Counts", "HookPayload", "Revision", "Router", "Routes", "Target"]

EventType = Literal["Normal", "Warning"]
Severity = Literal["info", "warn", "error"]


class Observer(Protocol):
    """Measures a canary: runs a metric's query and returns its value.

    Raises `kanaria.providers.base.NoValuesError` for no data, `ProviderUnavailableError` when
    the metrics backend cannot be reached, other `KanariaError`s for bad queries.
    """

    async def measure(self, canary: Canary, metric: Metric) -> float: ...

    async def check_available(self, canary: Canary) -> None:
        """Raise when a metrics provider the canary uses is not reachable."""

    async def counts(self, canary: Canary, latency_threshold: float) -> tuple[Counts, Counts]:
        """Cumulative (primary, canary) counts: requests, 5xx errors, requests slower than the
        threshold (seconds)."""


class WebhookCaller(Protocol):
    async def call(self, hook: Webhook, payload: HookPayload) -> None:
        """POST the payload; return on success (status ≤ 202), raise WebhookError otherwise."""


class EventRecorder(Protocol):
    async def record(self, canary: Canary, event_type: EventType, message: str) -> None: ...


class CanaryStore(Protocol):
    async def get(self, namespace: str, name: str) -> Canary | None:
        """The canary, parsed; ConfigError when its spec is invalid."""

    async def patch_status(self, canary: Canary, patch: dict[str, Any]) -> None:
        """Merge `patch` into the stored status."""


class Notifier(Protocol):
    async def alert(
        self, canary: Canary, severity: Severity, message: str, fields: dict[str, str]
    ) -> None: ...


class Recorder(Protocol):
    """kanaria's own metrics (Flagger's names)."""

    def canary_status(self, canary: Canary) -> None: ...

    def canary_weights(self, canary: Canary, routes: Routes) -> None: ...

    def metric_value(self, canary: Canary, metric: str, value: float) -> None: ...

    def release_finished(self, canary: Canary, succeeded: bool, skipped: bool) -> None: ...

    def tick_duration(self, canary: Canary, seconds: float) -> None: ...


@dataclass
class World:
    """Everything one tick may touch."""

    target: Target
    router: Router
    observer: Observer
    webhooks: WebhookCaller
    events: EventRecorder
    canaries: CanaryStore
    clock: Clock
    notifier: Notifier | None = None
    recorder: Recorder | None = None
    event_webhook_url: str | None = None
