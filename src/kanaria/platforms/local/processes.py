"""The kubelet of the local platform: each replica of a Deployment is one supervised process.

A replica runs its container's argv and environment on its own loopback "pod IP", in its own
session (so a crash or SIGKILL of the control plane does not take it down, and the whole
process group can be stopped later), with its output in `logs/replicas/<ns>/<pod>.log`. The
supervisor restarts a replica that exits, with the kubelet's back-off (10 s doubling to 5 min,
reset after 10 min of running; all scaled by the platform's time scale), and stops one as the
kubelet does: SIGTERM to the group, SIGKILL after `terminationGracePeriodSeconds`.

Every replica is recorded in `pids/replica.<ns>.<pod>.json` (pid, kernel start time, pod IP,
ports, template hash and what to run), so `local down` can stop it without us and the next
supervisor adopts it instead of starting a duplicate. What runs is published as `ReplicaState`s
(network.py's `Replica` plus template hash, phase, start time, restarts) into the control
plane's `ReplicaTable`, whose change listeners update the mesh the moment a replica turns
ready or goes away. Nothing here sleeps: `tick()` does one round and the platform calls it in
a loop, so unit tests drive the supervisor with a fake spawner and a simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from kanaria.clock import Clock
from kanaria.errors import ConflictError, KanariaError, PermanentError
from kanaria.platforms.local.network import PodAddresses, Replica, ReplicaPort, ReplicaTable
from kanaria.platforms.local.state import (
    PLATFORM_MARKER_VARIABLE,
    StateDir,
    process_start_time,
    write_atomically,
)

log = logging.getLogger(__name__)

Phase = Literal["Running", "CrashLoopBackOff", "Terminating"]

BACKOFF_INITIAL_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 300.0
# The kubelet forgets a container's back-off once it has run this long without crashing.
BACKOFF_RESET_SECONDS = 600.0
DEFAULT_GRACE_SECONDS = 30.0
# How many busy pod IPs a replica skips before it starts anyway (and crash-loops visibly).
ADDRESS_ATTEMPTS = 32
RECORD_PREFIX = "replica."
# Logs of replicas that are gone, kept per namespace for post-mortems (`kanaria logs` of a
# canary that was rolled back).
KEPT_DEAD_LOGS = 20
# Only these of the control plane's variables reach replicas: a container starts from its
# image's environment, not from its host's, and the control plane's may hold secrets. Not the
# state dir either: it holds the API token, and a load tester's commands run with this.
PASSED_VARIABLES = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    PLATFORM_MARKER_VARIABLE,
)
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


# ---- what to run and what runs ---------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaSpec:
    """One replica to run: the Deployment controller's order to the supervisor.

    `env` is the image's then the container's variables, values already resolved except for
    `$(VAR)` references, which are expanded at start against the replica's own variables
    (`POD_IP` is only known then). Probes are kept as written in the manifest; `probes.py`
    reads them.
    """

    namespace: str
    workload: str
    name: str
    template_hash: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[ReplicaPort, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    readiness_probe: Mapping[str, Any] | None = None
    liveness_probe: Mapping[str, Any] | None = None
    requests: Mapping[str, str] = field(default_factory=dict)
    grace_seconds: float = DEFAULT_GRACE_SECONDS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ReplicaSpec:
        fields = dict(raw)
        fields["argv"] = tuple(fields["argv"])
        fields["env"] = tuple((str(k), str(v)) for k, v in fields.get("env") or ())
        fields["ports"] = tuple(ReplicaPort(**port) for port in fields.get("ports") or ())
        return cls(**fields)


@dataclass(frozen=True)
class ReplicaState(Replica):
    """A replica as published to the control plane: network.py's `Replica` plus its history.

    `phase` is `Running` (process up), `CrashLoopBackOff` (exited, waiting to restart) or
    `Terminating` (being stopped). `ready_since` is when readiness last turned true, from which
    the Deployment controller counts `minReadySeconds`.
    """

    template_hash: str = ""
    phase: Phase = "Running"
    created_at: datetime | None = None
    started_at: datetime | None = None
    ready_since: datetime | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    message: str = ""


# ---- processes -------------------------------------------------------------------------------


class ProcessHandle(Protocol):
    """A running program: its pid, kernel start time (pid reuse guard), exit, signals."""

    @property
    def pid(self) -> int: ...

    @property
    def start(self) -> int: ...

    def poll(self) -> int | None:
        """The exit code once it has exited (-1 when unknown), None while it runs."""

    def signal(self, signum: int) -> None:
        """Send `signum` to its whole process group, if it still runs."""


class Spawner(Protocol):
    """Starts programs in their own session, and finds ones started before."""

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> ProcessHandle:
        """Start; `PermanentError` when the program cannot be executed at all."""

    def adopt(self, pid: int, start: int) -> ProcessHandle | None:
        """The process `pid` if it still runs and started at `start`, else None."""

    def ports_free(self, ip: str, ports: Sequence[int]) -> bool:
        """Whether nothing listens on `ip` at any of `ports` (a replica could bind them)."""


class PodAddressPool(Protocol):
    """Pod IPs; network.py's `PodAddresses` is the platform's, from 127.128.0.0/16."""

    def take(self, owner: str, wanted: str | None = None) -> str: ...

    def release(self, address: str) -> None: ...


class ChildProcess:
    """A program this supervisor started (it reaps it)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self.pid = process.pid
        self.start = process_start_time(process.pid) or 0

    def poll(self) -> int | None:
        code = self._process.poll()
        if code is not None:
            _kill_group(self.pid)  # children it left behind in its group go with it
        return code

    def signal(self, signum: int) -> None:
        if self._process.poll() is None:
            _signal_group(self.pid, signum)


class AdoptedProcess:
    """A program an earlier supervisor started: no exit code, only whether it still runs."""

    def __init__(self, pid: int, start: int) -> None:
        self.pid = pid
        self.start = start

    def poll(self) -> int | None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)  # our own child after a controller restart
        if process_start_time(self.pid) == self.start:
            return None
        _kill_group(self.pid)
        return -1

    def signal(self, signum: int) -> None:
        if process_start_time(self.pid) == self.start:
            _signal_group(self.pid, signum)


class SubprocessSpawner:
    """The real spawner: `subprocess.Popen` in a new session, output appended to a log file."""

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> ProcessHandle:
        try:
            with log_path.open("ab") as log_file:
                process = subprocess.Popen(
                    list(argv),
                    env=dict(env),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            raise PermanentError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        return ChildProcess(process)

    def adopt(self, pid: int, start: int) -> ProcessHandle | None:
        if pid <= 0 or process_start_time(pid) != start:
            return None
        return AdoptedProcess(pid, start)

    def ports_free(self, ip: str, ports: Sequence[int]) -> bool:
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # SO_REUSEADDR lets a port in TIME_WAIT pass; a listening one still fails.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((ip, port))
                except OSError:
                    return False
        return True


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _kill_group(pid: int) -> None:
    # Safe right after the leader's exit: the kernel does not reuse a pid while a process
    # group of that id still has members.
    _signal_group(pid, signal.SIGKILL)


# ---- the supervisor --------------------------------------------------------------------------


@dataclass
class _Replica:
    """The supervisor's own, mutable view of one replica."""

    spec: ReplicaSpec
    ip: str
    created_at: datetime
    log_path: Path
    handle: ProcessHandle | None = None
    phase: Phase = "Running"
    started_at: datetime | None = None
    ready: bool = False
    ready_since: datetime | None = None
    restarts: int = 0
    backoff: float = BACKOFF_INITIAL_SECONDS
    restart_at: datetime | None = None
    kill_at: datetime | None = None
    killed: bool = False
    last_exit_code: int | None = None
    message: str = ""
    incarnation: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.namespace, self.spec.name)


class Supervisor:
    """Runs, restarts, stops and adopts replica processes; publishes them to a ReplicaTable.

    Commands (`start`, `stop`, `restart`, `set_ready`) take effect at once; `tick()` notices
    exits, restarts after back-off and escalates to SIGKILL. Times come from `clock`; every
    duration a manifest gives is shortened by `clock.scaled()`.
    """

    def __init__(
        self,
        state: StateDir,
        clock: Clock,
        *,
        spawner: Spawner | None = None,
        addresses: PodAddressPool | None = None,
        table: ReplicaTable | None = None,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.spawner = spawner or SubprocessSpawner()
        self.addresses = addresses or PodAddresses()
        self.table = table if table is not None else ReplicaTable()
        self.base_env = dict(base_env) if base_env is not None else passed_environment()
        self._replicas: dict[tuple[str, str], _Replica] = {}

    # ---- queries ----

    def replicas(
        self, namespace: str | None = None, workload: str | None = None
    ) -> list[ReplicaState]:
        return [
            self._state_of(replica)
            for key, replica in sorted(self._replicas.items())
            if namespace in (None, key[0]) and workload in (None, replica.spec.workload)
        ]

    def get(self, namespace: str, name: str) -> ReplicaState | None:
        replica = self._replicas.get((namespace, name))
        return self._state_of(replica) if replica is not None else None

    def spec_of(self, namespace: str, name: str) -> ReplicaSpec | None:
        replica = self._replicas.get((namespace, name))
        return replica.spec if replica is not None else None

    def incarnation(self, namespace: str, name: str) -> int:
        """Counts starts of the replica's process: probes start over when it changes."""
        replica = self._replicas.get((namespace, name))
        return replica.incarnation if replica is not None else 0

    def time_scale(self) -> float:
        return 1.0 / self.clock.scaled(1.0)

    # ---- commands ----

    def start(self, spec: ReplicaSpec) -> ReplicaState:
        """Allocate a pod IP and start the replica's process."""
        key = (spec.namespace, spec.name)
        if key in self._replicas:
            raise ConflictError(f"replica {spec.namespace}/{spec.name} already exists")
        ip = self.addresses.take(f"{spec.namespace}/{spec.name}")
        log_path = self.state.replica_log(spec.namespace, spec.name)
        replica = _Replica(spec, ip, created_at=self.clock.now(), log_path=log_path)
        self._replicas[key] = replica
        self._launch(replica)
        return self._state_of(replica)

    def stop(self, namespace: str, name: str) -> None:
        """Stop gracefully: SIGTERM now, SIGKILL after the grace period; gone once it exits."""
        replica = self._replicas.get((namespace, name))
        if replica is None or replica.phase == "Terminating":
            return
        replica.phase = "Terminating"
        replica.message = "stopping"
        self._set_ready(replica, False)
        if replica.handle is None:
            self._remove(replica)
            return
        self._terminate(replica)
        self._changed(replica)

    def restart(self, namespace: str, name: str, reason: str) -> None:
        """Kill the process (SIGTERM, then SIGKILL) and start it again, as after a crash."""
        replica = self._replicas.get((namespace, name))
        if replica is None or replica.phase != "Running" or replica.handle is None:
            return
        if replica.kill_at is None:
            replica.message = reason
            self._set_ready(replica, False)
            self._terminate(replica)
            self._changed(replica)

    def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """The readiness probe's verdict; only a running process can be ready."""
        replica = self._replicas.get((namespace, name))
        if replica is None:
            return
        running = replica.phase == "Running" and replica.handle is not None
        if self._set_ready(replica, ready and running and replica.kill_at is None):
            self._changed(replica)

    def tick(self) -> bool:
        """One round: exits, restarts due after back-off, overdue kills. True on any change."""
        changed = False
        for replica in list(self._replicas.values()):
            changed |= self._check(replica, self.clock.now())
        return changed

    def adopt(self) -> list[ReplicaState]:
        """Take over the replicas an earlier supervisor recorded; restart those that died."""
        adopted = []
        for path in sorted(self.state.pids.glob(f"{RECORD_PREFIX}*.json")):
            replica = self._adopt_record(path)
            if replica is not None:
                adopted.append(self._state_of(replica))
        return adopted

    async def run(self, stop: asyncio.Event, interval: float = 0.05) -> None:
        """Tick every `interval` real seconds until `stop` is set; replicas keep running."""
        while not stop.is_set():
            self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def stop_all(self, within: float = 10.0, interval: float = 0.02) -> list[str]:
        """Stop every replica and wait up to `within` real seconds; the names left running."""
        for namespace, name in list(self._replicas):
            self.stop(namespace, name)
        for _ in range(max(1, int(within / interval))):
            self.tick()
            if not self._replicas:
                break
            await asyncio.sleep(interval)
        return [f"{ns}/{name}" for ns, name in self._replicas]

    # ---- starting ----

    def _launch(self, replica: _Replica) -> None:
        spec = replica.spec
        log_path = replica.log_path
        _rotate_log(log_path)
        self._ensure_free_address(replica)
        environment = self._environment(replica)
        argv = [expand(word, environment) for word in spec.argv]
        replica.incarnation += 1
        replica.restart_at = replica.kill_at = None
        replica.killed = False
        try:
            replica.handle = self.spawner.spawn(argv, environment, log_path, self._workdir(spec))
        except KanariaError as exc:
            _append(log_path, f"kanaria: {exc}\n")
            replica.message = str(exc)
            self._crashed(replica, self.clock.now(), code=-1)
            return
        replica.phase = "Running"
        replica.started_at = self.clock.now()
        replica.message = ""
        self._set_ready(replica, spec.readiness_probe is None)
        self._changed(replica)

    def _ensure_free_address(self, replica: _Replica) -> None:
        """Move the replica to another pod IP if something else listens on its ports there.

        Pod IPs are loopback addresses that another platform on the same machine (or a
        program left over from one) may use too; a replica started on them would only crash.
        Busy addresses are held under a placeholder owner while a free one is found.
        """
        ports = [port.port for port in replica.spec.ports]
        owner = f"{replica.spec.namespace}/{replica.spec.name}"
        held = []
        for _ in range(ADDRESS_ATTEMPTS):
            if self.spawner.ports_free(replica.ip, ports):
                break
            log.warning("%s: %s is in use by another program; moving", owner, replica.ip)
            self.addresses.release(replica.ip)
            held.append(self.addresses.take(f"busy:{replica.ip}", wanted=replica.ip))
            replica.ip = self.addresses.take(owner)
        for address in held:
            self.addresses.release(address)

    def _environment(self, replica: _Replica) -> dict[str, str]:
        spec = replica.spec
        environment = {
            **self.base_env,
            "POD_IP": replica.ip,
            "POD_NAME": spec.name,
            "POD_NAMESPACE": spec.namespace,
            "HOSTNAME": spec.name,
            "KANARIA_TIME_SCALE": f"{self.time_scale():g}",
        }
        for name, value in spec.env:
            environment[name] = expand(value, environment)
        return environment

    def _workdir(self, spec: ReplicaSpec) -> Path:
        folder = self.state.root / "run" / spec.namespace / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---- watching ----

    def _check(self, replica: _Replica, now: datetime) -> bool:
        if replica.handle is not None:
            code = replica.handle.poll()
            if code is not None:
                self._exited(replica, now, code)
                return True
            if replica.kill_at is not None and now >= replica.kill_at and not replica.killed:
                replica.handle.signal(signal.SIGKILL)
                replica.killed = True
                return True
            return False
        if replica.phase == "Terminating":
            self._remove(replica)
            return True
        if replica.restart_at is not None and now >= replica.restart_at:
            replica.restarts += 1
            self._launch(replica)
            return True
        return False

    def _exited(self, replica: _Replica, now: datetime, code: int) -> None:
        replica.handle = None
        replica.last_exit_code = code
        if replica.phase == "Terminating":
            self._remove(replica)
            return
        if not replica.message:
            replica.message = f"exited with code {code}" if code >= 0 else "exited"
        self._crashed(replica, now, code)

    def _crashed(self, replica: _Replica, now: datetime, code: int) -> None:
        """Schedule the restart: 10 s, 20 s, 40 s … 5 min, reset after 10 min of running."""
        replica.handle = None
        replica.last_exit_code = code
        self._set_ready(replica, False)
        started = replica.started_at
        if started is not None and now >= started + self._span(BACKOFF_RESET_SECONDS):
            replica.backoff = BACKOFF_INITIAL_SECONDS
        delay = replica.backoff
        replica.backoff = min(delay * 2, BACKOFF_MAX_SECONDS)
        replica.restart_at = now + self._span(delay)
        replica.phase = "CrashLoopBackOff"
        replica.message = f"{replica.message}; back-off {delay:g}s restarting failed container"
        self._changed(replica)

    def _terminate(self, replica: _Replica) -> None:
        assert replica.handle is not None
        grace = max(0.0, replica.spec.grace_seconds)
        replica.kill_at = self.clock.now() + self._span(grace)
        replica.handle.signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
        replica.killed = grace <= 0

    def _set_ready(self, replica: _Replica, ready: bool) -> bool:
        if replica.ready == ready:
            return False
        replica.ready = ready
        replica.ready_since = self.clock.now() if ready else None
        return True

    # ---- records and publishing ----

    def _changed(self, replica: _Replica) -> None:
        self._write_record(replica)
        self.table.put(self._state_of(replica))

    def _remove(self, replica: _Replica) -> None:
        spec = replica.spec
        self._replicas.pop(replica.key, None)
        self.addresses.release(replica.ip)
        self._record_path(spec.namespace, spec.name).unlink(missing_ok=True)
        shutil.rmtree(self.state.root / "run" / spec.namespace / spec.name, ignore_errors=True)
        self.table.remove(spec.namespace, spec.name)
        live = {name for ns, name in self._replicas if ns == spec.namespace}
        _prune_logs(replica.log_path.parent, live)

    def _state_of(self, replica: _Replica) -> ReplicaState:
        spec = replica.spec
        return ReplicaState(
            namespace=spec.namespace,
            name=spec.name,
            workload=spec.workload,
            ip=replica.ip,
            ports=spec.ports,
            labels=dict(spec.labels),
            annotations=dict(spec.annotations),
            ready=replica.ready,
            pid=replica.handle.pid if replica.handle is not None else None,
            log_path=replica.log_path,
            template_hash=spec.template_hash,
            phase=replica.phase,
            created_at=replica.created_at,
            started_at=replica.started_at,
            ready_since=replica.ready_since,
            restarts=replica.restarts,
            last_exit_code=replica.last_exit_code,
            message=replica.message,
        )

    def _record_path(self, namespace: str, name: str) -> Path:
        return self.state.pids / f"{RECORD_PREFIX}{namespace}.{name}.json"

    def _write_record(self, replica: _Replica) -> None:
        spec, handle = replica.spec, replica.handle
        record = {
            "name": f"replica/{spec.namespace}/{spec.name}",
            "pid": handle.pid if handle is not None else 0,
            "start": handle.start if handle is not None else 0,
            "replica": {
                "spec": spec.to_json(),
                "ip": replica.ip,
                "phase": replica.phase,
                "createdAt": _stamp(replica.created_at),
                "startedAt": _stamp(replica.started_at),
                "readySince": _stamp(replica.ready_since),
                "restarts": replica.restarts,
                "backoff": replica.backoff,
            },
        }
        self.state.pids.mkdir(parents=True, exist_ok=True)
        write_atomically(self._record_path(spec.namespace, spec.name), json.dumps(record))

    def _adopt_record(self, path: Path) -> _Replica | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            details = raw["replica"]
            spec = ReplicaSpec.from_json(details["spec"])
            pid, start = int(raw["pid"]), int(raw["start"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not one of ours, or torn: leave it for `local down`'s sweep
        if (spec.namespace, spec.name) in self._replicas:
            return None
        log_path = self.state.replica_log(spec.namespace, spec.name)
        replica = _adopted(spec, details, self.clock.now(), log_path)
        replica.ip = self.addresses.take(f"{spec.namespace}/{spec.name}", wanted=replica.ip)
        replica.handle = self.spawner.adopt(pid, start) if pid else None
        self._replicas[replica.key] = replica
        self._resume(replica, moved=replica.ip != details.get("ip"))
        return replica

    def _resume(self, replica: _Replica, moved: bool) -> None:
        """Carry on where the earlier supervisor left the adopted replica."""
        if replica.handle is not None and moved:
            replica.handle.signal(signal.SIGKILL)  # its address went to another replica
        if replica.phase == "Terminating":
            if replica.handle is not None:
                self._terminate(replica)
        elif replica.handle is None:
            replica.restart_at = self.clock.now()  # it died while nobody watched
            replica.phase = "CrashLoopBackOff"
            self._set_ready(replica, False)
        self._changed(replica)

    def _span(self, seconds: float) -> timedelta:
        return timedelta(seconds=self.clock.scaled(seconds))


def _adopted(
    spec: ReplicaSpec, details: Mapping[str, Any], now: datetime, log_path: Path
) -> _Replica:
    phase: Phase = "Running"
    if details.get("phase") in ("CrashLoopBackOff", "Terminating"):
        phase = details["phase"]
    ready_since = _parse_stamp(details.get("readySince"))
    return _Replica(
        spec=spec,
        ip=str(details.get("ip", "")),
        created_at=_parse_stamp(details.get("createdAt")) or now,
        log_path=log_path,
        phase=phase,
        started_at=_parse_stamp(details.get("startedAt")),
        ready=ready_since is not None,
        ready_since=ready_since,
        restarts=int(details.get("restarts", 0)),
        backoff=float(details.get("backoff", BACKOFF_INITIAL_SECONDS)),
        incarnation=1,
    )


# ---- helpers ---------------------------------------------------------------------------------


def passed_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of the control plane's environment that replicas inherit."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in PASSED_VARIABLES if name in environ}


def expand(text: str, environment: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known variables are replaced, unknown references kept
    as written, and `$$` stands for a literal `$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return environment.get(match.group(1), match.group(0))

    return _REFERENCE.sub(substitute, text)


def _rotate_log(path: Path) -> None:
    """The last run's output moves to `<pod>.previous.log` (`kubectl logs --previous`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.replace(path, path.with_suffix(".previous.log"))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _prune_logs(folder: Path, live: set[str]) -> None:
    dead = [
        path
        for path in folder.glob("*.log")
        if path.name.removesuffix(".log").removesuffix(".previous") not in live
    ]
    dead.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    for path in dead[KEPT_DEAD_LOGS * 2 :]:
        path.unlink(missing_ok=True)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: scaled time needs finer steps than seconds."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_stamp(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


async def wait_first(stop: asyncio.Event, change: Awaitable[object], within: float) -> None:
    """Wait for `change`, for `stop`, or for `within` real seconds, whichever comes first."""
    waiters = [asyncio.ensure_future(change), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


# ---- resource usage --------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """CPU time (seconds, children included) and resident memory of one replica's processes."""

    cpu_seconds: float
    rss_bytes: int


def session_usage(proc: Path = Path("/proc")) -> dict[int, Usage]:
    """Usage summed per session id, from one pass over /proc.

    A replica is a session leader whose pid is its session id, so this counts everything it
    started too. utime+stime of live processes plus cutime+cstime (children already reaped)
    keep the sum steady when a child exits.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    totals: dict[int, tuple[int, int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text(encoding="utf-8").rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) < 22:
            continue
        cpu = sum(int(value) for value in fields[11:15])
        session, rss = int(fields[3]), int(fields[21])
        before = totals.get(session, (0, 0))
        totals[session] = (before[0] + cpu, before[1] + rss)
    return {sid: Usage(cpu / ticks, rss * page) for sid, (cpu, rss) in totals.items()}


def replica_usage(states: Sequence[ReplicaState]) -> dict[str, Usage]:
    """Usage of each running replica, by replica name."""
    usage = session_usage()
    return {
        state.name: usage[state.pid]
        for state in states
        if state.pid is not None and state.pid in usage
    }
