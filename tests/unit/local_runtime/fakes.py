"""Stand-ins for processes, probes and /proc, so the runtime runs on simulated time in memory."""

from __future__ import annotations

import copy
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanaria.clock import SimulatedClock
from kanaria.errors import PermanentError
from kanaria.platforms.local.catalog import ImageCatalog, LaunchContext
from kanaria.platforms.local.deployments import WorkloadRuntime
from kanaria.platforms.local.network import PodAddresses, ReplicaTable
from kanaria.platforms.local.probes import ProbeAction, ProbeOutcome
from kanaria.platforms.local.processes import ReplicaState, Supervisor, Usage
from kanaria.platforms.local.state import StateDir
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import DEPLOYMENT, Object


class ScaledClock(SimulatedClock):
    """Simulated time for a platform running `time_scale` times faster than the manifests say."""

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__()
        self.time_scale = time_scale

    def scaled(self, seconds: float, floor: float = 0.0) -> float:
        return max(seconds / self.time_scale, min(seconds, floor))


@dataclass
class FakeProcess:
    pid: int
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    exit_code: int | None = None
    signals: list[int] = field(default_factory=list)
    ignores_sigterm: bool = False

    @property
    def start(self) -> int:
        return self.pid * 100

    def poll(self) -> int | None:
        return self.exit_code

    def signal(self, signum: int) -> None:
        if self.exit_code is not None:
            return
        self.signals.append(signum)
        if signum == signal.SIGKILL or not self.ignores_sigterm:
            self.exit_code = -signum

    def crash(self, code: int = 1) -> None:
        self.exit_code = code


class FakeSpawner:
    """Remembers every process it "started"; programs named in `missing` cannot start."""

    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []
        self.missing: set[str] = set()
        self.busy: set[tuple[str, int]] = set()  # (ip, port) another program listens on
        self.ignores_sigterm = False

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> FakeProcess:
        if argv[0] in self.missing:
            raise PermanentError(f"cannot run {argv[0]!r}: No such file or directory")
        log_path.write_text(f"started {argv[0]}\n")
        process = FakeProcess(1000 + len(self.processes), list(argv), dict(env), log_path)
        process.ignores_sigterm = self.ignores_sigterm
        self.processes.append(process)
        return process

    def adopt(self, pid: int, start: int) -> FakeProcess | None:
        for process in self.processes:
            if process.pid == pid and process.start == start and process.exit_code is None:
                return process
        return None

    def ports_free(self, ip: str, ports: Sequence[int]) -> bool:
        return not any((ip, port) in self.busy for port in ports)

    def running(self) -> list[FakeProcess]:
        return [p for p in self.processes if p.exit_code is None]

    def of(self, pod_name: str) -> FakeProcess:
        return [p for p in self.processes if p.env.get("POD_NAME") == pod_name][-1]


class FakeChecker:
    """Probe answers decided by a function of the action and the pod IP (default: success)."""

    def __init__(self) -> None:
        self.answer: Callable[[ProbeAction, str], bool] = lambda action, ip: True
        self.calls: list[tuple[ProbeAction, str]] = []

    async def check(self, action: ProbeAction, pod_ip: str, time_limit: float) -> ProbeOutcome:
        self.calls.append((action, pod_ip))
        if self.answer(action, pod_ip):
            return ProbeOutcome(True)
        return ProbeOutcome(False, "HTTP probe failed with statuscode: 503")


class FakeUsage:
    """CPU seconds per replica name, moved forward by the test."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.rss: dict[str, int] = {}

    def __call__(self, replicas: Sequence[ReplicaState]) -> dict[str, Usage]:
        return {
            r.name: Usage(self.cpu.get(r.name, 0.0), self.rss.get(r.name, 50 << 20))
            for r in replicas
        }

    def burn(self, replicas: Sequence[ReplicaState], cores: float, seconds: float) -> None:
        for replica in replicas:
            self.cpu[replica.name] = self.cpu.get(replica.name, 0.0) + cores * seconds


def podinfo_deployment(
    replicas: int | None = 2,
    image: str = "stefanprodan/podinfo:3.1.0",
    *,
    name: str = "podinfo",
    namespace: str = "test",
    readiness: bool = True,
    liveness: bool = False,
    strategy: dict[str, Any] | None = None,
    min_ready: int = 0,
    deadline: int = 60,
    cpu: str = "100m",
    probe_period: int = 2,
) -> Object:
    """The seed's podinfo Deployment (seed/README.md), with knobs for the tests."""
    container: dict[str, Any] = {
        "name": "podinfod",
        "image": image,
        "command": [
            "./podinfo",
            "--port=9898",
            "--port-metrics=9797",
            "--grpc-port=9999",
            "--grpc-service-name=podinfo",
            "--level=info",
            "--random-delay=false",
            "--random-error=false",
        ],
        "ports": [
            {"name": "http", "containerPort": 9898},
            {"name": "http-metrics", "containerPort": 9797},
            {"name": "grpc", "containerPort": 9999},
        ],
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
    }
    if readiness:
        container["readinessProbe"] = {
            "exec": {"command": ["podcli", "check", "http", "localhost:9898/readyz"]},
            "initialDelaySeconds": 1,
            "periodSeconds": probe_period,
            "timeoutSeconds": 5,
        }
    if liveness:
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 3,
        }
    spec: dict[str, Any] = {
        "minReadySeconds": min_ready,
        "progressDeadlineSeconds": deadline,
        "selector": {"matchLabels": {"app": name}},
        "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        "template": {
            "metadata": {"labels": {"app": name}, "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"containers": [container]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return DEPLOYMENT.new(namespace, name, spec=spec)


def with_image(deployment: Object, image: str) -> Object:
    changed = copy.deepcopy(deployment)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return changed


class Harness:
    """A supervisor on fakes, with its table's change count."""

    def __init__(self, state: StateDir, time_scale: float = 1.0) -> None:
        self.state = state
        self.clock = ScaledClock(time_scale)
        self.spawner = FakeSpawner()
        self.addresses = PodAddresses()
        self.table = ReplicaTable()
        self.changes = 0
        self.table.on_change(self._count)
        self.supervisor = self.new_supervisor()

    def _count(self) -> None:
        self.changes += 1

    def new_supervisor(self) -> Supervisor:
        return Supervisor(
            self.state,
            self.clock,
            spawner=self.spawner,
            addresses=self.addresses,
            table=self.table,
            base_env={"PATH": "/usr/bin"},
        )

    def after(self, seconds: float) -> None:
        self.clock.advance(self.clock.scaled(seconds))
        self.supervisor.tick()


class World:
    """A runtime on fakes, and the moves a test makes: time passes, a round runs."""

    def __init__(self, state: StateDir, time_scale: float = 1.0) -> None:
        self.state = state
        self.clock = ScaledClock(time_scale)
        self.objects = MemoryObjects()
        self.spawner = FakeSpawner()
        self.checker = FakeChecker()
        self.usage = FakeUsage()
        self.catalog = ImageCatalog.load(state.root, environ={})
        self.runtime = self.new_runtime()

    def new_runtime(self) -> WorkloadRuntime:
        return WorkloadRuntime(
            self.objects,
            self.state,
            self.clock,
            catalog=self.catalog,
            launch=LaunchContext(time_scale=self.clock.time_scale, python="python3"),
            spawner=self.spawner,
            checker=self.checker,
            usage=self.usage,
        )

    async def settle(self, rounds: int = 20) -> None:
        """Rounds of supervisor, probes and controller until nothing changes."""
        for _ in range(rounds):
            changed = self.runtime.supervisor.tick()
            await self.runtime.prober.tick()
            if not await self.runtime.controller.reconcile_all() and not changed:
                return

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Let `seconds` of manifest time pass in steps, settling after each."""
        elapsed = 0.0
        while elapsed < seconds - 1e-9:
            self.clock.advance(self.clock.scaled(min(step, seconds - elapsed)))
            elapsed += step
            await self.settle()

    async def deployment(self, name: str = "podinfo", namespace: str = "test") -> Object:
        stored = await self.objects.get(DEPLOYMENT, namespace, name)
        assert stored is not None
        return stored

    async def status(self, name: str = "podinfo") -> dict[str, Any]:
        status: dict[str, Any] = (await self.deployment(name)).get("status") or {}
        return status

    async def condition(self, kind: str, name: str = "podinfo") -> dict[str, Any]:
        for found in (await self.status(name)).get("conditions") or []:
            if found["type"] == kind:
                return dict(found)
        raise AssertionError(f"no {kind} condition in {await self.status(name)}")

    def replicas(self, workload: str = "podinfo") -> list[ReplicaState]:
        return self.runtime.supervisor.replicas("test", workload)
