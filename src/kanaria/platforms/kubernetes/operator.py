"""The kanaria operator: kopf watches Canaries, one daemon per Canary runs the engine's tick.

Flagger runs one job per canary with a ticker at `analysis.interval`; a kopf daemon is the same
thing, an asyncio task per object that kopf starts when the Canary appears, stops when it is
deleted, and pauses while another replica leads. The daemon ticks at once, then waits the
interval of the spec *as it is now* (kopf keeps `body` live), so editing `analysis.interval`
changes the cadence from the next tick on. The daemon keeps no state of its own: everything a
tick needs is in the Canary's status and in the objects it reads, so a restarted or newly
elected operator goes on where the last one stopped.

kopf's own habits are tuned for this: no kopf Events (kanaria posts Flagger's), kanaria's own
finalizer name (kopf needs one to stop a daemon before its Canary goes), and no handlers that
would make kopf annotate every Canary with its progress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes_asyncio import client
from prometheus_client import Counter

from kanaria.engine import messages
from kanaria.engine.metrics import PrometheusRecorder
from kanaria.errors import KanariaError
from kanaria.platforms.kubernetes.cache import WatchCache
from kanaria.platforms.kubernetes.client import KubernetesObjects
from kanaria.platforms.kubernetes.controller import Controller, OperatorConfig, parsed
from kanaria.platforms.kubernetes.health import HealthServer
from kanaria.platforms.kubernetes.login import connection_info, load_configuration
from kanaria.platforms.kubernetes.peering import (
    PEERING_NAME,
    ensure_peering_objects,
    priority_by_age,
)
from kanaria.platforms.kubernetes.status import write_status
from kanaria.spec.canary import Canary, Phase

log = logging.getLogger(__name__)

CANARIES = ("flagger.app", "v1beta1", "canaries")
FINALIZER = "kanaria.io/finalizer"
WATCH_TIMEOUT_SECONDS = 300  # reconnect watches now and then, as client-go does
STOP_TIMEOUT_SECONDS = 30.0  # a tick in flight may finish its writes
STOP_GRACE_SECONDS = 5.0  # a stopped daemon's time to finish its tick and revertOnDeletion


@dataclass
class Operator:
    """The parts one running operator owns, made at startup and closed at cleanup."""

    config: OperatorConfig
    recorder: PrometheusRecorder
    api: client.ApiClient | None = None
    controller: Controller | None = None
    health: HealthServer | None = None
    objects: KubernetesObjects | None = field(default=None, repr=False)
    cache: WatchCache | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.api = client.ApiClient(await load_configuration(self.config.kubeconfig))
        self.objects = KubernetesObjects(self.api, listener=_request_counter(self.recorder))
        self.cache = WatchCache(self.objects)
        self.controller = Controller(self.cache, self.config, self.recorder)
        if self.config.leader_election:
            await ensure_peering_objects(self.objects, self.config.namespaces)
        if self.config.port is not None:
            self.health = HealthServer(self.recorder.registry, self.state, port=self.config.port)
            await self.health.start()
            log.info("serving /healthz and /metrics on port %d", self.health.port)

    async def stop(self) -> None:
        if self.health is not None:
            await self.health.stop()
        if self.controller is not None:
            await self.controller.close()
        if self.cache is not None:
            await self.cache.close()
        if self.api is not None:
            await self.api.close()

    def state(self) -> dict[str, object]:
        canaries = len(self.controller.canaries) if self.controller else 0
        return {"canaries": canaries, "leaderElection": self.config.leader_election}


def build_registry(
    config: OperatorConfig, recorder: PrometheusRecorder | None = None
) -> tuple[kopf.OperatorRegistry, Operator]:
    """kopf handlers for one operator, in a registry of their own (several may share a process)."""
    registry = kopf.OperatorRegistry()
    operator = Operator(config, recorder or PrometheusRecorder(mesh_provider=config.mesh_provider))

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        return await connection_info(await load_configuration(config.kubeconfig))

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings, config)
        await operator.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await operator.stop()

    @kopf.daemon(
        *CANARIES,
        registry=registry,
        backoff=operator_backoff(config),
        cancellation_backoff=stop_grace(config),
        cancellation_timeout=STOP_TIMEOUT_SECONDS,
    )
    async def canary(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        assert operator.controller is not None  # startup ran before any daemon
        await run_canary(operator.controller, body, stopped)

    return registry, operator


def configure(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    settings.posting.enabled = False  # kanaria posts its own Events, in Flagger's words
    settings.persistence.finalizer = FINALIZER
    settings.watching.server_timeout = WATCH_TIMEOUT_SECONDS
    settings.peering.lifetime = config.peering_lifetime
    settings.peering.stealth = True


def stop_grace(config: OperatorConfig) -> float:
    """How long kopf lets a stopped daemon finish before it cancels it. Without a grace kopf
    cancels at once, and a deleted Canary's `revertOnDeletion` would be cut off."""
    return max(1.0, STOP_GRACE_SECONDS / config.time_scale)


def operator_backoff(config: OperatorConfig) -> float:
    """How soon a daemon that failed unexpectedly is started again: one control loop."""
    return max(0.1, 10.0 / config.time_scale)


async def run_canary(
    controller: Controller, body: Mapping[str, Any], stopped: kopf.DaemonStopped
) -> None:
    """Tick, wait the interval (the judge may look meanwhile), tick… until kopf stops the
    daemon; finalize if the Canary was deleted."""
    meta = body["metadata"]
    controller.started(meta["namespace"], meta["name"])
    try:
        while not stopped:
            await controller.tick(body, due=asyncio.get_running_loop().time())
            await controller.wait_for_tick(body, stopped)
    finally:
        controller.stopped(body)
    if stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason:
        await finalize(controller, body)


async def finalize(controller: Controller, body: Mapping[str, Any]) -> None:
    """`revertOnDeletion`: give the target its replicas and the user's objects their traffic
    back before the Canary goes, with Flagger's events. The last status write also tells kopf
    (which waits for this daemon to exit) to release the Canary at once."""
    canary = parsed(body)
    if canary is None or not canary.spec.revert_on_deletion:
        return
    await _terminating(controller, canary, Phase.TERMINATING, messages.terminating(canary.key))
    try:
        world = controller.world(canary.spec.provider)
        await world.target.scale_from_zero(canary)
        await world.router.finalize(canary)
    except KanariaError as exc:  # the Canary goes anyway: a stuck deletion helps no one
        log.warning("canary %s: could not revert on deletion: %s", canary.key, exc)
        await controller.events.record(canary, "Warning", f"revert on deletion failed: {exc}")
    else:
        log.info("canary %s: reverted on deletion", canary.key)
    await _terminating(controller, canary, Phase.TERMINATED, messages.terminated(canary.key))


async def _terminating(controller: Controller, canary: Canary, phase: Phase, event: str) -> None:
    try:
        await controller.events.record(canary, "Normal", event)
        patch = {"phase": phase.value}
        await write_status(controller.objects, canary.namespace, canary.name, patch)
    except KanariaError as exc:
        log.info("canary %s: %s not recorded: %s", canary.key, phase.value, exc)


async def run(
    config: OperatorConfig,
    stop_flag: Any = None,
    ready_flag: Any = None,
) -> None:
    """Run the operator until stopped (SIGTERM, SIGINT, or `stop_flag`)."""
    registry, _ = build_registry(config)
    await kopf.operator(
        registry=registry,
        namespaces=list(config.namespaces),
        clusterwide=not config.namespaces,
        standalone=not config.leader_election,
        peering_name=PEERING_NAME if config.leader_election else None,
        priority=priority_by_age(),
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


def _request_counter(recorder: PrometheusRecorder) -> Any:
    requests = Counter(
        "kanaria_kubernetes_api_requests",
        "Requests the operator made to the Kubernetes API, by verb, resource and answer.",
        ["verb", "resource", "code"],
        registry=recorder.registry,
    )

    def count(verb: str, resource: str, status: int) -> None:
        requests.labels(verb=verb, resource=resource, code=str(status)).inc()

    return count
