"""The local control plane: one process that owns the store and starts everything else.

`kanaria local up` runs `python -m kanaria.platforms.local` (this module's `main`) in its own
session; `--foreground` runs the same `serve()` in the CLI's process. In order, it:

1. locks the state dir (a second control plane on it refuses to start) and writes its config;
2. opens the SQLite store, with the admission hook that gives Services their VIPs;
3. starts (or adopts, after a crash) Envoy and Prometheus through the data plane's API;
4. starts the controllers — the mesh sync below, the workload runtime, and whatever the caller
   adds (the canary engine) — each supervised: a crash is logged and the controller restarted
   with back-off, and `local status` shows it;
5. serves the HTTP API last, so that "healthy" means everything above is up.

Stopping cancels the controllers, stops the API, Envoy and Prometheus, then sweeps every process
recorded in `pids/` or tagged with the platform's environment marker. `local down` does the same
sweep itself when the control plane was SIGKILLed.

Plug point: a `Controller` is a name and an `async def run(components)` that runs until
cancelled. `Components` holds the store (`objects`, with its change feed `objects.changes`),
the network (VIPs, `names`, `resolver(namespace)`, `hosts_file(namespace)`, pod IPs), the
replica table, the clock (at the platform's time scale), the data plane's handles and their
URLs. Add a controller to `standard_controllers()`, pass it to `ControlPlane(...)`, or name it
on the command line with `--controller module:attribute`. The canary engine, for instance:

    async def run_releases(components: Components) -> None:
        settings = ReleaseSettings(components.prometheus_url or "", components.config.time_scale)
        releases = LocalReleases(components.objects, components.network.names, settings)
        components.objects.changes.listen([CANARY], releases.wake)
        await releases.run()

    Controller("releases", run_releases)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry

from kanaria.clock import SystemClock
from kanaria.errors import ConfigError, KanariaError, TemporaryError
from kanaria.platforms.local.api import ControlPlaneApi, Validator
from kanaria.platforms.local.deployments import run_workloads
from kanaria.platforms.local.envoy import EnvoyProcess
from kanaria.platforms.local.guard import (
    TRANSLATION_FAILURES,
    ObjectGuard,
    ObjectKey,
    build_serving_the_rest,
    object_key,
)
from kanaria.platforms.local.mesh import (
    Endpoint,
    EnvoyResources,
    MeshSnapshot,
    Service,
    gateway_server_ports,
    translate,
)
from kanaria.platforms.local.network import Network, Replica, ReplicaTable, block_for, selected
from kanaria.platforms.local.prometheus import PrometheusProcess, ScrapeTarget
from kanaria.platforms.local.releases import run_releases
from kanaria.platforms.local.state import (
    PLATFORM_MARKER_VARIABLE,
    PRIVATE_UMASK,
    ControlPlaneConfig,
    StateDir,
    acquire_lock,
    ensure_token,
    forget_process,
    marked_processes,
    record_process,
    recorded_processes,
    terminate,
    write_api_address,
    write_config,
)
from kanaria.platforms.local.store import SqliteObjects
from kanaria.redaction import redact_logs
from kanaria.spec.apiserver import dns1123_label
from kanaria.spec.objects import (
    DESTINATION_RULE,
    GATEWAY,
    NAMESPACE,
    SERVICE,
    VIRTUAL_SERVICE,
    Kind,
    Object,
    kind_of,
    name_of,
    namespace_of,
)

log = logging.getLogger(__name__)

MESH_KINDS = (SERVICE, VIRTUAL_SERVICE, DESTINATION_RULE, GATEWAY, NAMESPACE)
MESH_DEBOUNCE_SECONDS = 0.05
ADOPTION_WAIT_SECONDS = 10.0
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
STOP_GRACE_SECONDS = 5.0
DEFAULT_GATEWAY_PORT = 18080
PLACEHOLDER_VIP = "127.96.255.254"


@dataclass
class Components:
    """What every controller gets: the platform's parts, already started."""

    state: StateDir
    config: ControlPlaneConfig
    clock: SystemClock
    objects: SqliteObjects
    network: Network
    replicas: ReplicaTable
    envoy: EnvoyProcess | None = None
    prometheus: PrometheusProcess | None = None
    api_url: str | None = None
    # kanaria's own metrics (Flagger's names): the engine records, the dashboard serves /metrics
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus is not None else None

    def urls(self) -> dict[str, str | None]:
        envoy_admin = f"http://{self.envoy.admin_address}" if self.envoy else None
        return {
            "api": self.api_url,
            "gateway": self.gateway_url,
            "prometheus": self.prometheus_url,
            "envoyAdmin": envoy_admin,
        }


@dataclass(frozen=True)
class Controller:
    """A part of the control plane that runs until cancelled (see the module docstring)."""

    name: str
    run: Callable[[Components], Awaitable[None]]


@dataclass
class _Supervised:
    controller: Controller
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    last_error: str | None = None
    running: bool = False


# ---- the mesh: stored objects and replicas → Envoy and Prometheus ------------------------------


class MeshSync:
    """Keeps Envoy and Prometheus in step with the stored mesh objects and the ready replicas.

    Every change marks the mesh dirty; after `MESH_DEBOUNCE_SECONDS` of quiet one rebuild
    translates the whole snapshot and applies it, so a burst of writes (an apply of ten
    objects, a rollout) costs one Envoy update. An object that breaks the build is left out
    and marked with a Warning Event (`guard.py`), so the others are still served; input that
    fails as a whole keeps the last good config.
    """

    def __init__(self, components: Components, adopted_replicas: int = 0) -> None:
        self.components = components
        self.adopted_replicas = adopted_replicas
        self.dirty = asyncio.Event()
        self.last_error: str | None = None
        self.applied = 0
        self.guard = ObjectGuard(components.objects, components.clock, "mesh")

    async def run(self) -> None:
        self.components.objects.changes.listen(MESH_KINDS, self.dirty.set)
        self.components.replicas.on_change(self.dirty.set)
        await self._await_adoption()
        self.dirty.set()
        while True:
            await self.dirty.wait()
            await asyncio.sleep(MESH_DEBOUNCE_SECONDS)
            self.dirty.clear()
            await self.sync()

    async def _await_adoption(self) -> None:
        """After a crash, Envoy still routes to the replicas that outlived the control plane;
        a first update before the workload runtime has adopted them would drop every
        endpoint. So wait (at most `ADOPTION_WAIT_SECONDS`) until they are all back."""
        deadline = time.monotonic() + ADOPTION_WAIT_SECONDS
        table = self.components.replicas
        while len(table.replicas()) < self.adopted_replicas and time.monotonic() < deadline:
            self.dirty.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dirty.wait(), deadline - time.monotonic())
        if len(table.replicas()) < self.adopted_replicas:
            log.warning(
                "only %d of %d replicas were adopted", len(table.replicas()), self.adopted_replicas
            )

    async def sync(self) -> None:
        objects = self.components.objects
        services = [s for s in await objects.list(SERVICE, None) if _valid_namespace(s)]
        namespaces = [name_of(ns) for ns in await objects.list(NAMESPACE, None)]
        self.components.network.update_services(services, [n for n in namespaces if _dns(n)])
        try:
            resources = await self._translate(services)
            if self.components.envoy is not None:
                await self.components.envoy.apply(resources)
        except TRANSLATION_FAILURES as exc:
            self.last_error = str(exc)
            log.warning("mesh update not applied: %s", exc)
            return
        self.last_error = None
        self.applied += 1
        self._update_scrape_targets()

    async def _translate(self, services: Sequence[Object]) -> EnvoyResources:
        """Envoy's configuration, built without (and marking) the objects that break it."""
        candidates = [
            obj
            for kind in (VIRTUAL_SERVICE, DESTINATION_RULE, GATEWAY)
            for obj in await self.components.objects.list(kind, None)
        ]

        async def build(excluded: frozenset[ObjectKey]) -> EnvoyResources:
            return translate(await self.snapshot(services, excluded=excluded))

        resources, left_out = await build_serving_the_rest(build, candidates)
        for obj, reason in left_out:
            await self.guard.mark(obj, f"left out of the mesh: {reason}")
        return resources

    async def snapshot(
        self,
        services: Sequence[Object],
        extra: Sequence[Object] = (),
        excluded: frozenset[ObjectKey] = frozenset(),
    ) -> MeshSnapshot:
        """The mesh as stored, with `extra` objects in place of stored ones of the same name,
        and without the `excluded` ones."""
        objects = self.components.objects
        stored = {
            kind: [
                obj
                for obj in _replaced(await objects.list(kind, None), extra, kind)
                if object_key(obj) not in excluded
            ]
            for kind in (VIRTUAL_SERVICE, DESTINATION_RULE, GATEWAY)
        }
        ready = [r for r in self.components.replicas.replicas() if r.ready]
        mesh_services = [
            _mesh_service(service, ready)
            for service in _replaced(list(services), extra, SERVICE)
            if (service.get("spec") or {}).get("clusterIP", PLACEHOLDER_VIP) != "None"
        ]
        gateways = stored[GATEWAY]
        return MeshSnapshot(
            services=tuple(mesh_services),
            virtual_services=tuple(stored[VIRTUAL_SERVICE]),
            destination_rules=tuple(stored[DESTINATION_RULE]),
            gateways=tuple(gateways),
            gateway_ports=gateway_ports(gateways, self.components.config.gateway_port),
        )

    async def validate(self, manifests: Sequence[Object]) -> list[str]:
        """Apply's check: would the mesh, with these objects, still translate?"""
        mesh_kinds = {(k.group, k.kind) for k in MESH_KINDS}
        if not any((kind_of(m).group, kind_of(m).kind) in mesh_kinds for m in manifests):
            return []
        services = await self.components.objects.list(SERVICE, None)
        try:
            translate(await self.snapshot(services, manifests))
        except TRANSLATION_FAILURES as exc:
            return [f"{exc}" if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"]
        return []

    def _update_scrape_targets(self) -> None:
        prometheus = self.components.prometheus
        if prometheus is not None:
            prometheus.update_targets(scrape_targets(self.components.replicas.replicas()))


def _dns(namespace: str) -> bool:
    return dns1123_label(namespace) is None


def _valid_namespace(obj: Object) -> bool:
    # Stored before validation refused such names: a hosts file cannot be named after it.
    return _dns(namespace_of(obj))


def _replaced(stored: list[Object], extra: Sequence[Object], kind: Kind) -> list[Object]:
    wanted = (kind.group, kind.kind)
    incoming = [obj for obj in extra if (kind_of(obj).group, kind_of(obj).kind) == wanted]
    names = {(namespace_of(obj), name_of(obj)) for obj in incoming}
    kept = [obj for obj in stored if (namespace_of(obj), name_of(obj)) not in names]
    return kept + incoming


def _mesh_service(service: Object, ready: Sequence[Replica]) -> Service:
    spec = service.get("spec") or {}
    vip = str(spec.get("clusterIP") or PLACEHOLDER_VIP)
    chosen = selected(ready, namespace_of(service), spec.get("selector") or {})
    endpoints = [
        Endpoint(replica.workload, replica.ip, port.port, port.name, dict(replica.labels))
        for replica in chosen
        for port in replica.ports
    ]
    return Service.from_manifest(service, vip, endpoints)


def gateway_ports(gateways: Iterable[Object], gateway_port: int) -> dict[int, int]:
    """Gateway server port → local port: 80 → the configured gateway port; other ports from
    1024 up keep their number, lower ones are moved up by 8000 (443 → 8443)."""
    ports = {}
    for port in gateway_server_ports(gateways):
        ports[port] = gateway_port if port == 80 else (port if port >= 1024 else port + 8000)
    return ports


def scrape_targets(replicas: Iterable[Replica]) -> list[ScrapeTarget]:
    """Ready replicas that ask to be scraped (`prometheus.io/scrape: "true"`), as Kubernetes
    service discovery would find them."""
    targets = []
    for replica in replicas:
        port = _metrics_port(replica)
        if replica.ready and port is not None:
            labels = {
                **{key.replace("-", "_"): value for key, value in replica.labels.items()},
                "kubernetes_namespace": replica.namespace,
                "kubernetes_pod_name": replica.name,
            }
            path = replica.annotations.get("prometheus.io/path", "/metrics")
            targets.append(ScrapeTarget(f"{replica.ip}:{port}", labels, path))
    return targets


def _metrics_port(replica: Replica) -> int | None:
    if replica.annotations.get("prometheus.io/scrape") != "true":
        return None
    declared = replica.annotations.get("prometheus.io/port")
    if declared and declared.isdigit():
        return int(declared)
    named = [p.port for p in replica.ports if p.name in ("http-metrics", "metrics")]
    return named[0] if named else None


def standard_controllers() -> list[Controller]:
    """The controllers every local platform runs, besides the mesh sync: the workload runtime
    (replica processes, probes, Deployments, HPAs) and the canary engine."""
    return [Controller("workloads", run_workloads), Controller("releases", run_releases)]


# ---- the control plane -----------------------------------------------------------------------


class ControlPlane:
    """Start with `await plane.start()`, stop with `await plane.stop()` (idempotent)."""

    def __init__(
        self,
        state: StateDir,
        config: ControlPlaneConfig,
        controllers: Sequence[Controller] = (),
        *,
        data_plane: bool = True,
    ) -> None:
        self.state = state
        self.config = config
        self.data_plane = data_plane
        mesh = Controller("mesh", self._run_mesh)
        self.controllers = [_Supervised(c) for c in (mesh, *controllers)]
        self.components: Components | None = None
        self.mesh: MeshSync | None = None
        self.api: ControlPlaneApi | None = None
        self.started_at = time.monotonic()
        self._lock: IO[str] | None = None
        self._marker_before: str | None = None
        self._umask_before: int | None = None

    async def start(self) -> Components:
        began = time.monotonic()
        self._lock = acquire_lock(self.state)
        # The store, logs and records it writes (and its children's) hold secrets: 0600.
        self._umask_before = os.umask(PRIVATE_UMASK)
        # Every process started from here on inherits the marker, so `local down` finds it.
        self._marker_before = os.environ.get(PLATFORM_MARKER_VARIABLE)
        os.environ.update(self.state.marker())
        write_config(self.state, self.config)
        survivors = [r for r in recorded_processes(self.state) if r.name.startswith("replica/")]
        components = self.components = await self._open_store()
        self.mesh = MeshSync(components, sum(record.alive() for record in survivors))
        stored = time.monotonic()
        if self.data_plane:
            await self._start_data_plane(components)
        data_plane = time.monotonic()
        for supervised in self.controllers:
            supervised.task = asyncio.create_task(self._supervise(supervised))
        await self._start_api(components)
        log.info(
            "started in %.3f s: store %.3f s, Envoy and Prometheus %.3f s, API %.3f s",
            time.monotonic() - began,
            stored - began,
            data_plane - stored,
            time.monotonic() - data_plane,
        )
        return components

    async def _open_store(self) -> Components:
        network = Network(self.state.hosts, block_for(self.state.root))
        objects = SqliteObjects(self.state.store, admissions=[network.services.admit])
        network.services.sync(await objects.list(SERVICE, None))
        if await objects.get(NAMESPACE, "", "default") is None:
            await objects.create(NAMESPACE.new("", "default"))
        clock = SystemClock(self.config.time_scale)
        return Components(self.state, self.config, clock, objects, network, ReplicaTable())

    async def _start_data_plane(self, components: Components) -> None:
        components.envoy = await EnvoyProcess.ensure(self.state.envoy)
        record_process(self.state, "envoy", components.envoy.pid)
        components.prometheus = await PrometheusProcess.ensure(
            self.state.prometheus, envoy_admin=components.envoy.admin_address
        )
        record_process(self.state, "prometheus", components.prometheus.process.pid)

    async def _run_mesh(self, components: Components) -> None:
        assert self.mesh is not None
        await self.mesh.run()

    async def _start_api(self, components: Components) -> None:
        assert self.mesh is not None
        config: dict[str, Any] = {}
        validators: list[Validator] = [self.mesh.validate]
        self.api = ControlPlaneApi(
            components.objects,
            ensure_token(self.state),
            status=self.status,
            config=config,
            logs=self._logs,
            replicas=components.replicas.replicas,
            validators=validators,
        )
        components.api_url = await self.api.start(port=self.config.api_port)
        config.update(self._public_config(components))
        write_api_address(self.state, components.api_url)

    def _public_config(self, components: Components) -> dict[str, Any]:
        return {
            "timeScale": self.config.time_scale,
            "gatewayPort": self.config.gateway_port,
            "stateDir": str(self.state.root),
            "urls": components.urls(),
        }

    def _logs(self, namespace: str, deployment: str) -> list[tuple[str, Path]]:
        """The running replicas' logs, else (the Deployment scaled to zero, a canary rolled
        back) the logs the workload runtime kept of its last replicas, newest first."""
        assert self.components is not None
        running = [
            (replica.name, replica.log_path)
            for replica in self.components.replicas.of_workload(namespace, deployment)
            if replica.log_path is not None
        ]
        return running or kept_logs(self.state.logs / "replicas" / namespace, deployment)

    async def _supervise(self, supervised: _Supervised) -> None:
        """Run a controller; restart it with back-off when it fails, never more than once a
        second."""
        assert self.components is not None
        name = supervised.controller.name
        while True:
            supervised.running = True
            try:
                await supervised.controller.run(self.components)
                log.info("controller %s finished", name)
                supervised.running = False
                return
            except asyncio.CancelledError:
                supervised.running = False
                raise
            except Exception as exc:  # a crashed controller must not stop the others
                supervised.running = False
                supervised.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("controller %s failed; restarting", name)
            backoff = RESTART_BACKOFF_SECONDS[
                min(supervised.restarts, len(RESTART_BACKOFF_SECONDS) - 1)
            ]
            supervised.restarts += 1
            await asyncio.sleep(backoff)

    async def status(self) -> dict[str, Any]:
        """Each component and whether it is healthy, for `local status`."""
        assert self.components is not None
        components = self.components
        parts = [self._store_status(components), await self._envoy_status(components)]
        parts.append(await self._prometheus_status(components))
        parts += [self._controller_status(s) for s in self.controllers]
        replicas = components.replicas.replicas()
        return {
            "pid": os.getpid(),
            "uptimeSeconds": round(time.monotonic() - self.started_at, 1),
            "timeScale": self.config.time_scale,
            "stateDir": str(self.state.root),
            "urls": components.urls(),
            "components": parts,
            "replicas": {"total": len(replicas), "ready": sum(r.ready for r in replicas)},
            "healthy": all(part["healthy"] for part in parts),
        }

    def _store_status(self, components: Components) -> dict[str, Any]:
        return {
            "name": "store",
            "healthy": True,
            "detail": f"{components.objects.path} (revision {components.objects.changes.latest})",
        }

    async def _envoy_status(self, components: Components) -> dict[str, Any]:
        envoy = components.envoy
        if envoy is None:
            return {"name": "envoy", "healthy": not self.data_plane, "detail": "not started"}
        last_error = self.mesh.last_error if self.mesh is not None else None
        healthy = envoy.running() and last_error is None
        detail = f"pid {envoy.pid}, admin http://{envoy.admin_address}"
        if last_error:
            detail += f"; last mesh update refused: {last_error}"
        return {"name": "envoy", "healthy": healthy, "pid": envoy.pid, "detail": detail}

    async def _prometheus_status(self, components: Components) -> dict[str, Any]:
        prometheus = components.prometheus
        if prometheus is None:
            return {"name": "prometheus", "healthy": not self.data_plane, "detail": "not started"}
        return {
            "name": "prometheus",
            "healthy": prometheus.running(),
            "pid": prometheus.process.pid,
            "detail": f"pid {prometheus.process.pid}, {prometheus.url}",
        }

    def _controller_status(self, supervised: _Supervised) -> dict[str, Any]:
        detail = "running" if supervised.running else "stopped"
        if supervised.restarts:
            detail += f", {supervised.restarts} restarts, last error: {supervised.last_error}"
        return {
            "name": f"controller/{supervised.controller.name}",
            "healthy": supervised.running,
            "detail": detail,
        }

    async def stop(self) -> None:
        """Stop controllers, the API, the data plane and every process the platform started."""
        await self._cancel_controllers()
        if self.api is not None:
            await self.api.stop()
            self.api = None
        await self._stop_data_plane()
        sweep(self.state)
        self.state.api.unlink(missing_ok=True)
        if self.components is not None:
            self.components.objects.close()
            self.components = None
        if self._lock is not None:
            self._restore_marker()
            self._lock.close()
            self._lock = None

    def _restore_marker(self) -> None:
        """An in-process control plane (tests, the demo) leaves the environment as it was."""
        if self._umask_before is not None:
            os.umask(self._umask_before)
            self._umask_before = None
        if self._marker_before is None:
            os.environ.pop(PLATFORM_MARKER_VARIABLE, None)
        else:
            os.environ[PLATFORM_MARKER_VARIABLE] = self._marker_before

    async def _cancel_controllers(self) -> None:
        tasks = [s.task for s in self.controllers if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS * 2)

    async def _stop_data_plane(self) -> None:
        components = self.components
        if components is None:
            return
        for name, process in (("prometheus", components.prometheus), ("envoy", components.envoy)):
            if process is not None:
                with contextlib.suppress(KanariaError, OSError):
                    await process.stop(STOP_GRACE_SECONDS)
                forget_process(self.state, name)


def kept_logs(folder: Path, deployment: str) -> list[tuple[str, Path]]:
    """Logs of a Deployment's replicas that are gone (`<deployment>-<hash>-<id>.log`)."""
    pattern = re.compile(rf"{re.escape(deployment)}-[a-z0-9]+-[a-z0-9]+\.log")
    found = [path for path in folder.glob("*.log") if pattern.fullmatch(path.name)]
    found.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    return [(path.name.removesuffix(".log"), path) for path in found]


def sweep(state: StateDir, grace: float = STOP_GRACE_SECONDS) -> list[int]:
    """Stop every process the platform started (pid files, then the environment marker);
    returns the pids that survived SIGKILL (should be none)."""
    records = [record for record in recorded_processes(state) if record.alive()]
    survivors = terminate([record.pid for record in records], grace)
    survivors += terminate(marked_processes(state), grace)
    for record in recorded_processes(state):
        if not record.alive() and record.path is not None:
            record.path.unlink(missing_ok=True)
    return survivors


# ---- the program -----------------------------------------------------------------------------


async def serve(
    state: StateDir,
    config: ControlPlaneConfig,
    controllers: Sequence[Controller] = (),
    ready: Callable[[Components], None] | None = None,
) -> None:
    """Run a control plane until SIGTERM or SIGINT, then stop everything it started."""
    plane = ControlPlane(state, config, controllers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        components = await plane.start()
        log.info("control plane ready: %s", components.urls())
        if ready is not None:
            ready(components)
        await stop.wait()
    finally:
        log.info("control plane stopping")
        await plane.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def load_controllers(references: Iterable[str]) -> list[Controller]:
    """`module:attribute` → the Controller (or list of them) it names."""
    found: list[Controller] = []
    for reference in references:
        module_name, _, attribute = reference.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"--controller {reference}: {exc}") from exc
        items = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, Controller) for item in items):
            raise ConfigError(f"--controller {reference} is not a Controller")
        found += items
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kanaria.platforms.local",
        description="The local platform's control plane (normally started by kanaria local up).",
    )
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--gateway-port", type=int, default=DEFAULT_GATEWAY_PORT)
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--controller", action="append", default=[], metavar="MODULE:ATTR")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_logs()
    if not args.time_scale > 0:
        print("error: --time-scale must be positive", file=sys.stderr)
        return 2
    config = ControlPlaneConfig(args.time_scale, args.gateway_port, args.api_port)
    try:
        controllers = standard_controllers() + load_controllers(args.controller)
        asyncio.run(serve(StateDir.at(args.state_dir), config, controllers))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KanariaError, TemporaryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
