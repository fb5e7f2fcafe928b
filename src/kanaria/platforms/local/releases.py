"""Canary releases on the local platform: the engine, run for every stored Canary.

Everything the engine touches is the shared code written against `ObjectClient` (the
Deployment target, the Istio router, Events, the Canary store, Prometheus checks), given the
local store; the Deployment runtime and Envoy then make the stored objects real. Names in
webhook URLs resolve through the platform's name table, and the clock runs at the platform's
time scale, so the seed's 1-minute analysis takes seconds with the same number of steps.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from prometheus_client import CollectorRegistry

from kanaria.analysis.observer import ObserverSettings, PrometheusObserver
from kanaria.clock import SystemClock
from kanaria.engine.metrics import PrometheusRecorder
from kanaria.engine.ports import Notifier, Recorder, World
from kanaria.engine.scheduler import CanaryKey, Scheduler
from kanaria.errors import ConfigError
from kanaria.platforms.local.network import NameTable, Network, ServiceResolver
from kanaria.platforms.local.state import ControlPlaneConfig
from kanaria.platforms.local.store import SqliteObjects
from kanaria.routing.istio import IstioRouter
from kanaria.spec.objects import CANARY, ObjectClient, name_of, namespace_of
from kanaria.webhooks.client import HttpWebhookCaller
from kanaria.webhooks.notifiers import AlertNotifier, Destination, default_provider
from kanaria.workloads.canaries import ObjectCanaryStore, report_invalid
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.events import ObjectEventRecorder

log = logging.getLogger(__name__)

# Prometheus scrapes every second: a rate needs at least two samples inside its window.
MIN_METRIC_WINDOW_SECONDS = 3.0
MIN_WEBHOOK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ReleaseSettings:
    prometheus_url: str
    time_scale: float = 1.0
    mesh_provider: str = "istio"
    event_webhook_url: str | None = None


class LocalReleases:
    """Runs the engine's scheduler over the local store until cancelled."""

    def __init__(
        self,
        objects: ObjectClient,
        names: NameTable,
        settings: ReleaseSettings,
        recorder: Recorder | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.objects = objects
        self.names = names
        self.settings = settings
        self.recorder = recorder
        self.notifier = notifier
        self.clock = SystemClock(settings.time_scale)
        self.scheduler: Scheduler | None = None

    def wake(self) -> None:
        """A Canary was applied or changed: pick it up now rather than at the next control loop."""
        if self.scheduler is not None:
            self.scheduler.wake()

    async def run(self) -> None:
        resolver = ServiceResolver(self.names)
        connector = aiohttp.TCPConnector(resolver=resolver, limit=50)
        webhooks = HttpWebhookCaller(
            connector,
            time_scale=self.settings.time_scale,
            min_timeout=MIN_WEBHOOK_TIMEOUT_SECONDS,
        )
        observer = PrometheusObserver(
            self.objects,
            ObserverSettings(
                metrics_server=self.settings.prometheus_url,
                mesh_provider=self.settings.mesh_provider,
                time_scale=self.settings.time_scale,
                min_window_seconds=MIN_METRIC_WINDOW_SECONDS,
            ),
        )
        events = ObjectEventRecorder(self.objects, self.clock)
        world = World(
            target=DeploymentTarget(self.objects, self.clock),
            router=IstioRouter(self.objects),
            observer=observer,
            webhooks=webhooks,
            events=events,
            canaries=ObjectCanaryStore(self.objects),
            clock=self.clock,
            recorder=self.recorder,
            notifier=self.notifier,
            event_webhook_url=self.settings.event_webhook_url,
        )

        async def report(key: CanaryKey, error: ConfigError) -> None:
            await report_invalid(self.objects, events, *key, error)

        self.scheduler = Scheduler(world, self._canaries, report_invalid=report)
        try:
            await self.scheduler.run()
        finally:
            await asyncio.gather(webhooks.close(), observer.close(), return_exceptions=True)
            await connector.close()

    async def _canaries(self) -> list[CanaryKey]:
        return [(namespace_of(obj), name_of(obj)) for obj in await self.objects.list(CANARY, None)]


class ReleaseParts(Protocol):
    """What the releases controller takes from the control plane's `Components`."""

    @property
    def objects(self) -> SqliteObjects: ...

    @property
    def network(self) -> Network: ...

    @property
    def config(self) -> ControlPlaneConfig: ...

    @property
    def prometheus_url(self) -> str | None: ...

    @property
    def metrics(self) -> CollectorRegistry: ...


async def run_releases(parts: ReleaseParts) -> None:
    """The control plane's plug: `Controller("releases", run_releases)`."""
    if parts.prometheus_url is None:
        raise ConfigError("the releases controller needs Prometheus, which is not running")
    settings = ReleaseSettings(
        parts.prometheus_url,
        parts.config.time_scale,
        event_webhook_url=os.environ.get("EVENT_WEBHOOK_URL"),
    )
    notifier = AlertNotifier(parts.objects, default=default_provider_from(os.environ))
    releases = LocalReleases(
        parts.objects,
        parts.network.names,
        settings,
        recorder=PrometheusRecorder(parts.metrics),
        notifier=notifier,
    )
    parts.objects.changes.listen([CANARY], releases.wake)
    try:
        await releases.run()
    finally:
        await notifier.close()


def default_provider_from(environ: Mapping[str, str]) -> Destination | None:
    """Flagger's global alert settings, read from the same environment variables."""
    return default_provider(
        slack_url=environ.get("SLACK_URL"),
        slack_token=environ.get("SLACK_TOKEN"),
        slack_channel=environ.get("SLACK_CHANNEL"),
        slack_user=environ.get("SLACK_USER"),
        slack_proxy=environ.get("SLACK_PROXY_URL"),
        msteams_url=environ.get("MSTEAMS_URL"),
        msteams_proxy=environ.get("MSTEAMS_PROXY_URL"),
    )
