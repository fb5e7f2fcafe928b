"""An in-memory world for the engine: the seed scenario in milliseconds, on simulated time.

The engine's unit tests and `kanaria bench decisions` run the real tick against these. Each
part keeps a record of what was done to it (weights set, events, hooks called) so a test can
assert what a user would see, and each can be scripted (a metric's value, a hook's answer, a
rollout that never finishes).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kanaria.analysis.counts import Counts
from kanaria.clock import SimulatedClock
from kanaria.engine.ports import EventType, Revision, Routes, World
from kanaria.errors import ConfigError, PermanentError, TemporaryError
from kanaria.providers.base import NoValuesError
from kanaria.spec.canary import Canary, Metric, Webhook
from kanaria.webhooks.client import HookPayload, WebhookError


@dataclass
class SimulatedTarget:
    """A Deployment and its primary. `image` changes make new revisions."""

    image: str = "stefanprodan/podinfo:3.1.0"
    configs: dict[str, str] = field(default_factory=dict)
    primary_image: str | None = None
    canary_replicas: int = 1
    primary_pending_checks: int = 0  # how many readiness checks the primary fails first
    canary_pending_checks: int = 0
    canary_deadline_exceeded: bool = False
    primary_deadline_exceeded: bool = False
    calls: list[str] = field(default_factory=list)

    async def initialize(self, canary: Canary) -> None:
        if self.primary_image is None:
            self.primary_image = self.image
            self.calls.append("create-primary")

    async def revision(self, canary: Canary) -> Revision:
        return Revision(spec_hash=f"hash-{self.image}", configs=dict(self.configs))

    async def check_primary_ready(self, canary: Canary) -> None:
        primary = f"{canary.spec.target_ref.name}-primary.{canary.namespace}"
        if self.primary_deadline_exceeded:
            raise PermanentError(f"deployment {primary!r} exceeded its progress deadline")
        if self.primary_pending_checks > 0:
            self.primary_pending_checks -= 1
            raise TemporaryError(
                f"{primary} not ready: waiting for rollout to finish: observed deployment "
                "generation less then desired generation"
            )

    async def check_canary_ready(self, canary: Canary) -> None:
        target = f"{canary.spec.target_ref.name}.{canary.namespace}"
        if self.canary_deadline_exceeded:
            raise PermanentError(f"deployment {target!r} exceeded its progress deadline")
        if self.canary_pending_checks > 0:
            self.canary_pending_checks -= 1
            raise TemporaryError(
                f"canary deployment {target} not ready: waiting for rollout to finish: "
                "0 of 1 (readyThreshold 100%) updated replicas are available"
            )

    async def promote(self, canary: Canary) -> None:
        self.primary_image = self.image
        self.calls.append("promote")

    async def scale_to_zero(self, canary: Canary) -> None:
        self.canary_replicas = 0
        self.calls.append("scale-to-zero")

    async def scale_from_zero(self, canary: Canary) -> None:
        self.canary_replicas = max(self.canary_replicas, 1)
        self.calls.append("scale-from-zero")

    async def reconcile_primary_scaler(self, canary: Canary, *, initial: bool) -> None:
        self.calls.append("primary-scaler-initial" if initial else "primary-scaler-sync")


@dataclass
class SimulatedRouter:
    routes: Routes = field(default_factory=lambda: Routes(100, 0))
    history: list[Routes] = field(default_factory=list)
    reconciled: int = 0

    async def reconcile(self, canary: Canary) -> None:
        self.reconciled += 1

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        if routes.primary_weight + routes.canary_weight != 100:
            raise ConfigError(f"weights must sum to 100, got {routes}")
        self.routes = routes
        self.history.append(routes)

    async def get_routes(self, canary: Canary) -> Routes:
        return self.routes

    async def finalize(self, canary: Canary) -> None:
        self.routes = Routes(100, 0)


MetricScript = Callable[[Metric, Routes], float]
"""A metric's value given the routes in force; raise NoValuesError etc. to simulate trouble."""


def healthy(metric: Metric, routes: Routes) -> float:
    """A canary that serves well: 100 % success, 100 ms P99, 0 for anything else."""
    return {"request-success-rate": 100.0, "request-duration": 100.0}.get(metric.name, 0.0)


@dataclass
class ScriptedObserver:
    router: SimulatedRouter
    script: MetricScript = healthy
    available: bool = True
    counts_script: Callable[[], tuple[Counts, Counts]] | None = None
    measured: list[str] = field(default_factory=list)

    async def measure(self, canary: Canary, metric: Metric) -> float:
        self.measured.append(metric.name)
        return self.script(metric, self.router.routes)

    async def check_available(self, canary: Canary) -> None:
        if not self.available:
            raise TemporaryError("prometheus at http://prometheus:9090 is not reachable")

    async def counts(self, canary: Canary, latency_threshold: float) -> tuple[Counts, Counts]:
        if self.counts_script is None:
            raise NoValuesError("no counts are simulated")
        return self.counts_script()


HookScript = Callable[[Webhook, HookPayload], bool]


@dataclass
class ScriptedWebhooks:
    """Hooks pass unless `answers` says otherwise (by hook name)."""

    answers: dict[str, bool | HookScript] = field(default_factory=dict)
    calls: list[tuple[str, HookPayload]] = field(default_factory=list)

    async def call(self, hook: Webhook, payload: HookPayload) -> None:
        self.calls.append((hook.name, payload))
        answer = self.answers.get(hook.name, True)
        passed = answer(hook, payload) if callable(answer) else answer
        if not passed:
            raise WebhookError(f"{hook.name} refused (status 403)")

    def called(self, name: str) -> int:
        return sum(1 for hook_name, _ in self.calls if hook_name == name)


@dataclass
class RecordedEvent:
    type: EventType
    message: str
    time: str


@dataclass
class MemoryEvents:
    clock: SimulatedClock
    events: list[RecordedEvent] = field(default_factory=list)

    async def record(self, canary: Canary, event_type: EventType, message: str) -> None:
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.events.append(RecordedEvent(event_type, message, stamp))

    @property
    def messages(self) -> list[str]:
        return [event.message for event in self.events]


@dataclass
class MemoryCanaries:
    """Canaries as stored documents: every read parses the stored YAML again."""

    documents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def put(self, document: dict[str, Any]) -> Canary:
        canary = Canary.model_validate(document)
        self.documents[(canary.namespace, canary.name)] = copy.deepcopy(document)
        return canary

    async def get(self, namespace: str, name: str) -> Canary | None:
        document = self.documents.get((namespace, name))
        return None if document is None else Canary.model_validate(copy.deepcopy(document))

    async def patch_status(self, canary: Canary, patch: dict[str, Any]) -> None:
        document = self.documents[(canary.namespace, canary.name)]
        status = document.setdefault("status", {})
        for key, value in patch.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = copy.deepcopy(value)

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.documents[(namespace, name)].get("status", {}))


@dataclass
class SimulatedWorld:
    """A World plus handles on each simulated part."""

    world: World
    clock: SimulatedClock
    target: SimulatedTarget
    router: SimulatedRouter
    observer: ScriptedObserver
    webhooks: ScriptedWebhooks
    events: MemoryEvents
    canaries: MemoryCanaries


def simulated_world(clock: SimulatedClock | None = None) -> SimulatedWorld:
    clock = clock or SimulatedClock()
    target, router = SimulatedTarget(), SimulatedRouter()
    observer, webhooks = ScriptedObserver(router), ScriptedWebhooks()
    events, canaries = MemoryEvents(clock), MemoryCanaries()
    world = World(
        target=target,
        router=router,
        observer=observer,
        webhooks=webhooks,
        events=events,
        canaries=canaries,
        clock=clock,
    )
    return SimulatedWorld(world, clock, target, router, observer, webhooks, events, canaries)
