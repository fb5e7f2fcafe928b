"""The engine's view of the world: the small interfaces it acts through, and nothing else.

Each platform provides these (the local platform over SQLite, Envoy and processes; the operator
over the Kubernetes API), and the unit tests provide in-memory ones on simulated time, so one
engine runs everywhere. Every method takes the Canary it acts for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["HookPayload"]

from kanaria.clock import Clock
from kanaria.spec.canary import Canary, Metric, Webhook
from kanaria.webhooks.client import HookPayload

EventType = Literal["Normal", "Warning"]
Severity = Literal["info", "warn", "error"]


@dataclass(frozen=True)
class Revision:
    """What identifies a release: the pod template's hash and the tracked configs' checksums."""

    spec_hash: str
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Routes:
    """Traffic as the router really applies it."""

    primary_weight: int
    canary_weight: int
    mirrored: bool = False


class Target(Protocol):
    """The workload being released (a Deployment and its `-primary` copy)."""

    async def initialize(self, canary: Canary) -> None:
        """Create or sync `<target>-primary` (and its copied ConfigMaps/Secrets)."""

    async def revision(self, canary: Canary) -> Revision:
        """The target's current revision."""

    async def check_primary_ready(self, canary: Canary) -> None:
        """Return when ready; TemporaryError while rolling out; PermanentError past deadline."""

    async def check_canary_ready(self, canary: Canary) -> None:
        """As check_primary_ready, for the target itself."""

    async def promote(self, canary: Canary) -> None:
        """Copy the target's template (and configs) to the primary."""

    async def scale_to_zero(self, canary: Canary) -> None: ...

    async def scale_from_zero(self, canary: Canary) -> None: ...

    async def reconcile_primary_scaler(self, canary: Canary, *, initial: bool) -> None:
        """Create (initial) or sync the primary's autoscaler from the target's."""


class Router(Protocol):
    """Flagger's four router methods: services and mesh objects, and absolute weights."""

    async def reconcile(self, canary: Canary) -> None: ...

    async def set_routes(self, canary: Canary, routes: Routes) -> None: ...

    async def get_routes(self, canary: Canary) -> Routes: ...

    async def finalize(self, canary: Canary) -> None: ...


@dataclass(frozen=True)
class VersionCounts:
    """Cumulative request counts of one version, for the sequential judge."""

    requests: float
    errors: float
    slow: float


class Observer(Protocol):
    """Measures a canary: runs a metric's query and returns its value.

    Raises `kanaria.providers.base.NoValuesError` for no data, `ProviderUnavailableError` when
    the metrics backend cannot be reached, other `KanariaError`s for bad queries.
    """

    async def measure(self, canary: Canary, metric: Metric) -> float: ...

    async def check_available(self, canary: Canary) -> None:
        """Raise when a metrics provider the canary uses is not reachable."""

    async def counts(
        self, canary: Canary, latency_threshold: float
    ) -> tuple[VersionCounts, VersionCounts]:
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
