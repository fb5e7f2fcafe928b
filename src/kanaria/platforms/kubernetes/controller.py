"""What every Canary's daemon shares, and one tick of one Canary on a cluster.

The engine runs here exactly as on the local platform: the shared Deployment target, Istio
router, Event recorder, Prometheus observer and webhook client, given the Kubernetes
`ObjectClient`. Two things are Kubernetes' own: the client it is given reads from watch-fed
caches shared by all Canaries (`cache.WatchCache`), so an idle tick asks the API server nothing;
and the status store retries conflicts, since the status is the operator's only memory. A
Canary that does not validate gets a Warning Event and `status.message`, and waits for a fix
without disturbing the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from kanaria.analysis.observer import ObserverSettings, PrometheusObserver
from kanaria.clock import SystemClock
from kanaria.engine.metrics import PrometheusRecorder
from kanaria.engine.ports import Recorder, World
from kanaria.engine.tick import advance, look
from kanaria.errors import ConfigError, KanariaError
from kanaria.platforms.kubernetes.network import ConnectToResolver, Endpoint
from kanaria.platforms.kubernetes.status import KubernetesCanaryStore, write_status
from kanaria.routing import router_for
from kanaria.spec.canary import DEFAULT_INTERVAL_SECONDS, Canary, Phase
from kanaria.spec.objects import Object, ObjectClient
from kanaria.webhooks.client import HttpWebhookCaller
from kanaria.webhooks.notifiers import AlertNotifier, Destination
from kanaria.workloads.canaries import parse_canary, report_invalid
from kanaria.workloads.events import ObjectEventRecorder
from kanaria.workloads.targets import target_for

log = logging.getLogger(__name__)

DEFAULT_METRICS_SERVER = "http://prometheus.istio-system:9090"
MIN_WEBHOOK_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class OperatorConfig:
    """What `kanaria operator` was asked to do."""

    namespaces: tuple[str, ...] = ()  # none: every namespace
    kubeconfig: Path | None = None
    metrics_server: str = DEFAULT_METRICS_SERVER
    mesh_provider: str = "istio"
    leader_election: bool = False
    peering_lifetime: int = 60  # seconds a silent leader keeps its lease
    port: int | None = 8080  # /healthz and /metrics; None: not served
    time_scale: float = 1.0
    min_metric_window: float = 0.0  # real seconds; a window must hold two scrapes
    connect_to: Mapping[Endpoint, Endpoint] = field(default_factory=dict)
    event_webhook: str | None = None
    alerts: Destination | None = None  # Flagger's global provider (--slack-url, --msteams-url)
    cluster_name: str | None = None
    # ticks in flight at once: when an operator starts with hundreds of Canaries, their daemons
    # all tick at once; the rest queue here instead of flooding the API server (and timing out)
    max_concurrent_ticks: int = 16


class Controller:
    """The operator's shared parts; `tick` advances one Canary by one step."""

    def __init__(
        self,
        objects: ObjectClient,
        config: OperatorConfig,
        recorder: PrometheusRecorder | None = None,
    ) -> None:
        self.objects = objects
        self.config = config
        self.clock = SystemClock(config.time_scale)
        self.recorder = recorder or PrometheusRecorder(mesh_provider=config.mesh_provider)
        self.resolver = ConnectToResolver(dict(config.connect_to))
        self._connector = aiohttp.TCPConnector(resolver=self.resolver, limit=100)
        self.webhooks = HttpWebhookCaller(
            self._connector,
            time_scale=config.time_scale,
            min_timeout=MIN_WEBHOOK_TIMEOUT_SECONDS,
        )
        settings = ObserverSettings(
            metrics_server=config.metrics_server,
            mesh_provider=config.mesh_provider,
            time_scale=config.time_scale,
            min_window_seconds=config.min_metric_window,
        )
        self.observer = PrometheusObserver(objects, settings, resolver=self.resolver)
        self.events = ObjectEventRecorder(objects, self.clock)
        self.notifier = AlertNotifier(
            objects, default=config.alerts, cluster_name=config.cluster_name
        )
        self.canaries: set[tuple[str, str]] = set()
        self._ticking = asyncio.Semaphore(config.max_concurrent_ticks)

    async def close(self) -> None:
        await self.notifier.close()
        await self.webhooks.close()
        await self.observer.close()
        await self._connector.close()

    def world(self, provider: str | None) -> World:
        """A world for one tick (its parts read through the operator's shared caches)."""
        reads = self.objects
        recorder: Recorder = self.recorder
        mesh = provider or self.config.mesh_provider
        return World(
            target=target_for(mesh, reads, self.clock),
            router=router_for(mesh, reads),
            observer=self.observer,
            webhooks=self.webhooks,
            events=self.events,
            canaries=KubernetesCanaryStore(reads),
            clock=self.clock,
            recorder=recorder,
            notifier=self.notifier,
            event_webhook_url=self.config.event_webhook,
        )

    async def tick(self, body: Mapping[str, Any], due: float | None = None) -> None:
        """Advance the Canary `body` (kopf's live copy, for what a tick needs before reading);
        `due` is the event loop time it was due at, to measure how late it starts."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        status = body.get("status") or {}
        world = await self._world_for(body)
        if world is None:
            return
        if not status.get("phase"):
            step = self._initializing(world, namespace, name)
        else:
            step = advance(world, namespace, name)
        if await self._guarded(namespace, name, step, due) and status.get("message"):
            await write_status(self.objects, namespace, name, {"message": None})

    async def look(self, body: Mapping[str, Any]) -> None:
        """Between ticks: the sequential judge looks at the counts (when the Canary has one)."""
        world = await self._world_for(body)
        if world is not None:
            meta = body["metadata"]
            await self._guarded(
                meta["namespace"], meta["name"], look(world, meta["namespace"], meta["name"])
            )

    async def wait_for_tick(self, body: Mapping[str, Any], stopped: Any) -> None:
        """Wait `analysis.interval` (as the spec is now), letting the judge look meanwhile."""
        tick_every, look_every = cadence(body)
        waited = 0.0
        while look_every and waited + look_every < tick_every and not stopped:
            await stopped.wait(self.clock.scaled(look_every))
            waited += look_every
            if not stopped:
                await self.look(body)
        if not stopped:
            await stopped.wait(self.clock.scaled(tick_every - waited))

    async def _world_for(self, body: Mapping[str, Any]) -> World | None:
        try:
            return self.world((body.get("spec") or {}).get("provider"))
        except ConfigError as exc:  # an unknown mesh provider
            meta, error = body["metadata"], exc

            async def refuse() -> None:
                raise error

            await self._guarded(meta["namespace"], meta["name"], refuse())
            return None

    async def _initializing(self, world: World, namespace: str, name: str) -> None:
        """Say at once that a new Canary was seen (`kubectl get` shows it), then tick."""
        await write_status(self.objects, namespace, name, {"phase": Phase.INITIALIZING.value})
        await advance(world, namespace, name)

    async def _guarded(
        self, namespace: str, name: str, step: Awaitable[None], due: float | None = None
    ) -> bool:
        """Run a tick or a look; True if it went through. One Canary's trouble stays its own."""
        try:
            async with self._ticking:
                if due is not None:
                    self.recorder.tick_lag(asyncio.get_running_loop().time() - due)
                await step
        except ConfigError as exc:
            log.warning("canary %s/%s is invalid: %s", namespace, name, exc)
            await report_invalid(self.objects, self.events, namespace, name, exc)
            return False
        except KanariaError as exc:
            log.info("canary %s/%s: will retry next tick: %s", namespace, name, exc)
            return False
        return True

    def started(self, namespace: str, name: str) -> None:
        self.canaries.add((namespace, name))
        self._count()

    def stopped(self, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        self.canaries.discard((meta["namespace"], meta["name"]))
        self._count()
        canary = parsed(body)
        if canary is not None:
            self.recorder.forget(canary)

    def _count(self) -> None:
        counts: dict[str, int] = {}
        for namespace, _ in self.canaries:
            counts[namespace] = counts.get(namespace, 0) + 1
        self.recorder.canary_totals(counts)


def parsed(body: Mapping[str, Any]) -> Canary | None:
    try:
        return parse_canary(_plain(body))
    except ConfigError:
        return None


def interval_of(body: Mapping[str, Any]) -> float:
    """The analysis interval with Flagger's default and clamp (≥10 s); an invalid Canary is
    looked at again after the default interval, in case it was fixed."""
    return cadence(body)[0]


def cadence(body: Mapping[str, Any]) -> tuple[float, float]:
    """Seconds between ticks, and between the judge's looks (0: no judge)."""
    canary = parsed(body)
    if canary is None:
        return DEFAULT_INTERVAL_SECONDS, 0.0
    judge = canary.spec.analysis.judge
    return canary.spec.analysis.interval_seconds, judge.look_interval if judge else 0.0


def _plain(body: Mapping[str, Any]) -> Object:
    """kopf's body views as plain dicts, for the spec parser."""
    return {
        key: _plain(value) if isinstance(value, Mapping) else value for key, value in body.items()
    }
