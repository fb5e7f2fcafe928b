"""Readiness and liveness probes, run the kubelet's way against each replica's pod IP.

Readiness decides what the mesh routes to and what the Deployment counts as available, so a
canary whose new version never answers `/readyz` must stall its rollout here exactly as on
Kubernetes. Probes keep their manifest meaning: `initialDelaySeconds`, `periodSeconds`,
`timeoutSeconds`, `successThreshold` and `failureThreshold`, every duration shortened by the
platform's time scale; a replica starts unready, and enough failed liveness probes restart it.

Three forms are understood: `httpGet` (port by number or name; 200–399 is success),
`tcpSocket`, and the `exec` commands that only check the pod over the network — podinfo's
`podcli check http localhost:9898/readyz` (and `podcli check tcp`), and `wget`/`curl` of a URL,
as Flagger's load tester manifest uses. `localhost` in a pod means the pod itself, so it is
read as the pod IP. Any other exec command would need the container's filesystem, which a local
replica does not have; it is refused when the replica is planned, with a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from kanaria.errors import ConfigError
from kanaria.platforms.local.network import ReplicaPort
from kanaria.platforms.local.processes import ReplicaState, Supervisor
from kanaria.spec.kube import Probe

log = logging.getLogger(__name__)

# A probe timeout shortened by a large time scale must still give a busy machine time to answer
# (real seconds).
# Probes watch real processes, which start in real time whatever the time scale: a compressed
# clock shortens probe timings only down to these floors, or a liveness probe would restart a
# replica that is still importing its code (at 20× speed, 3 failed checks in 1.5 s).
INITIAL_DELAY_FLOOR_SECONDS = 2.0
PERIOD_FLOOR_SECONDS = 1.0
TIMEOUT_FLOOR_SECONDS = 1.0
USER_AGENT = "kube-probe/1.30"
_POD_ITSELF = frozenset({"", "localhost", "127.0.0.1", "0.0.0.0", "::1", "$(POD_IP)"})
ProbeKind = Literal["readiness", "liveness"]


@dataclass(frozen=True)
class ProbeAction:
    """What one probe does: an HTTP GET or a TCP connect; `host` None means the pod IP."""

    kind: Literal["http", "tcp"]
    port: int
    path: str = "/"
    host: str | None = None
    scheme: str = "http"
    headers: tuple[tuple[str, str], ...] = ()

    def target(self, pod_ip: str) -> str:
        host = self.host or pod_ip
        if self.kind == "tcp":
            return f"tcp {host}:{self.port}"
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True)
class ProbePlan:
    """A probe as the kubelet runs it; durations are the manifest's (unscaled) seconds."""

    action: ProbeAction
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ProbeOutcome:
    success: bool
    detail: str = ""


def plan_probe(raw: Mapping[str, Any], ports: Sequence[ReplicaPort], where: str) -> ProbePlan:
    """Read a manifest's probe; `ConfigError` naming `where` if the local platform cannot run it."""
    try:
        probe = Probe.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {exc.errors()[0]['msg']}") from exc
    if probe.http_get is not None:
        action = _http_get(probe.http_get, ports, f"{where}.httpGet")
    elif probe.tcp_socket is not None:
        action = _tcp_socket(probe.tcp_socket, ports, f"{where}.tcpSocket")
    elif probe.exec is not None:
        action = _exec(probe.exec.get("command") or [], f"{where}.exec.command")
    else:
        raise ConfigError(f"{where}: expected httpGet, tcpSocket or exec")
    return ProbePlan(
        action=action,
        initial_delay=max(0, probe.initial_delay_seconds),
        period=max(1, probe.period_seconds),
        timeout=max(1, probe.timeout_seconds),
        success_threshold=max(1, probe.success_threshold),
        failure_threshold=max(1, probe.failure_threshold),
    )


def _port(value: Any, ports: Sequence[ReplicaPort], where: str) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for port in ports:
        if port.name == value:
            return port.port
    names = ", ".join(p.name for p in ports if p.name) or "none"
    raise ConfigError(f"{where}.port: no container port named {value!r} (named ports: {names})")


def _host(value: Any, where: str) -> str | None:
    host = str(value or "").strip("[]")
    if host.lower() in _POD_ITSELF:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ConfigError(
        f"{where}: probes may only reach the pod itself (localhost or its pod IP), not {host!r}"
    )


def _http_get(spec: Mapping[str, Any], ports: Sequence[ReplicaPort], where: str) -> ProbeAction:
    scheme = str(spec.get("scheme", "HTTP")).lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}.scheme: expected HTTP or HTTPS, found {scheme!r}")
    headers = tuple(
        (str(header.get("name", "")), str(header.get("value", "")))
        for header in spec.get("httpHeaders") or []
    )
    path = str(spec.get("path") or "/")
    return ProbeAction(
        kind="http",
        port=_port(spec.get("port"), ports, where),
        path=path if path.startswith("/") else f"/{path}",
        host=_host(spec.get("host"), f"{where}.host"),
        scheme=scheme,
        headers=headers,
    )


def _tcp_socket(spec: Mapping[str, Any], ports: Sequence[ReplicaPort], where: str) -> ProbeAction:
    return ProbeAction(
        kind="tcp",
        port=_port(spec.get("port"), ports, where),
        host=_host(spec.get("host"), f"{where}.host"),
    )


def _exec(command: Sequence[Any], where: str) -> ProbeAction:
    words = [str(word) for word in command]
    program = PurePosixPath(words[0]).name if words else ""
    positional = [word for word in words[1:] if not word.startswith("-")]
    if program == "podcli" and positional[:2] == ["check", "http"] and len(positional) > 2:
        return _url_action(positional[-1], where)
    if program == "podcli" and positional[:2] == ["check", "tcp"] and len(positional) > 2:
        split = urlsplit(f"tcp://{positional[-1]}")
        if split.port is None:
            raise ConfigError(f"{where}: expected host:port after `podcli check tcp`")
        return ProbeAction(kind="tcp", port=split.port, host=_host(split.hostname, where))
    urls = [word for word in words[1:] if "://" in word]
    if program in ("wget", "curl") and urls:
        return _url_action(urls[-1], where)
    raise ConfigError(
        f"{where}: the local platform runs exec probes only when they check the pod over the "
        f"network (`podcli check http|tcp`, `wget URL`, `curl URL`); found {' '.join(words)!r}. "
        "Use an httpGet or tcpSocket probe instead"
    )


def _url_action(url: str, where: str) -> ProbeAction:
    split = urlsplit(url if "://" in url else f"http://{url}")
    scheme = split.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}: expected an http(s) URL, found {url!r}")
    return ProbeAction(
        kind="http",
        port=split.port or (443 if scheme == "https" else 80),
        path=(split.path or "/") + (f"?{split.query}" if split.query else ""),
        host=_host(split.hostname, where),
        scheme=scheme,
    )


# ---- checking --------------------------------------------------------------------------------


class Checker(Protocol):
    """Runs one probe action against a pod IP within `time_limit` real seconds."""

    async def check(self, action: ProbeAction, pod_ip: str, time_limit: float) -> ProbeOutcome: ...


class NetworkChecker:
    """The real checker: one HTTP/1.1 request per connection, or a TCP connect, on loopback."""

    async def check(self, action: ProbeAction, pod_ip: str, time_limit: float) -> ProbeOutcome:
        host = action.host or pod_ip
        if not ipaddress.ip_address(host).is_loopback:
            return ProbeOutcome(False, f"{host} is not a loopback address")
        try:
            async with asyncio.timeout(time_limit):
                if action.kind == "tcp":
                    return await _connect(host, action.port)
                return await _http(action, host)
        except TimeoutError:
            return ProbeOutcome(False, f"{action.target(pod_ip)}: timed out after {time_limit:g}s")
        except (OSError, ValueError) as exc:
            return ProbeOutcome(False, f"{action.target(pod_ip)}: {exc}")


async def _connect(host: str, port: int) -> ProbeOutcome:
    _, writer = await asyncio.open_connection(host, port)
    await _close(writer)
    return ProbeOutcome(True)


async def _http(action: ProbeAction, host: str) -> ProbeOutcome:
    context = _insecure_context() if action.scheme == "https" else None
    reader, writer = await asyncio.open_connection(host, action.port, ssl=context)
    try:
        lines = [
            f"GET {action.path} HTTP/1.1",
            f"Host: {host}:{action.port}",
            f"User-Agent: {USER_AGENT}",
            "Accept: */*",
            "Connection: close",
            *(f"{name}: {value}" for name, value in action.headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status_line = await reader.readline()
    finally:
        await _close(writer)
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return ProbeOutcome(False, f"HTTP probe got a malformed answer: {status_line[:80]!r}")
    code = int(parts[1])
    if 200 <= code < 400:
        return ProbeOutcome(True)
    return ProbeOutcome(False, f"HTTP probe failed with statuscode: {code}")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


def _insecure_context() -> ssl.SSLContext:
    # The kubelet does not verify a probe's certificate either.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# ---- scheduling ------------------------------------------------------------------------------


@dataclass
class _ProbeState:
    plan: ProbePlan | None
    incarnation: int
    next_at: datetime
    successes: int = 0
    failures: int = 0
    running: bool = False
    error: str = ""


class Prober:
    """Runs every running replica's probes when due and reports to the supervisor.

    `start_due()` launches the due probes as tasks and returns them (the platform's loop does
    not wait); `tick()` launches and awaits them, which is what unit tests use.
    """

    def __init__(self, supervisor: Supervisor, checker: Checker | None = None) -> None:
        self.supervisor = supervisor
        self.checker = checker or NetworkChecker()
        self._states: dict[tuple[str, str, ProbeKind], _ProbeState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start_due(self) -> list[asyncio.Task[None]]:
        now = self.supervisor.clock.now()
        running = [r for r in self.supervisor.replicas() if r.phase == "Running" and r.pid]
        self._forget_others({(r.namespace, r.name) for r in running})
        started = []
        for replica in running:
            for kind in ("readiness", "liveness"):
                state = self._state(replica, kind)
                if state is not None and not state.running and now >= state.next_at:
                    started.append(self._launch(replica, kind, state, now))
        return started

    async def tick(self) -> None:
        tasks = self.start_due()
        if tasks:
            await asyncio.gather(*tasks)

    async def run(self, stop: asyncio.Event, longest: float = 0.1) -> None:
        """Launch probes as they fall due until `stop` is set, waking early when a replica
        starts (its first probe may be due at once) and at least every `longest` seconds."""
        wake = asyncio.Event()
        self.supervisor.table.on_change(wake.set)
        try:
            while not stop.is_set():
                wake.clear()
                self.start_due()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._until_next(longest))
        finally:
            await self.close()

    def _until_next(self, longest: float) -> float:
        """Real seconds until the next probe falls due, within [5 ms, `longest`]."""
        waiting = [s.next_at for s in self._states.values() if not s.running]
        if not waiting:
            return longest
        seconds = (min(waiting) - self.supervisor.clock.now()).total_seconds()
        return min(longest, max(0.005, seconds))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _state(self, replica: ReplicaState, kind: ProbeKind) -> _ProbeState | None:
        """The probe's state for this run of the process; a restart starts it over."""
        key = (replica.namespace, replica.name, kind)
        incarnation = self.supervisor.incarnation(replica.namespace, replica.name)
        state = self._states.get(key)
        if state is None or state.incarnation != incarnation:
            state = self._new_state(replica, kind, incarnation)
            if state is None:
                self._states.pop(key, None)
                return None
            self._states[key] = state
        return state

    def _new_state(
        self, replica: ReplicaState, kind: ProbeKind, incarnation: int
    ) -> _ProbeState | None:
        spec = self.supervisor.spec_of(replica.namespace, replica.name)
        raw = None if spec is None else getattr(spec, f"{kind}_probe")
        if raw is None:
            return None
        started = replica.started_at or self.supervisor.clock.now()
        try:
            plan = plan_probe(raw, replica.ports, f"{kind}Probe")
        except ConfigError as exc:
            return _ProbeState(None, incarnation, started, error=str(exc))
        delay = self._span(plan.initial_delay, floor=INITIAL_DELAY_FLOOR_SECONDS)
        return _ProbeState(plan, incarnation, started + delay)

    def _launch(
        self, replica: ReplicaState, kind: ProbeKind, state: _ProbeState, now: datetime
    ) -> asyncio.Task[None]:
        state.running = True
        period = state.plan.period if state.plan is not None else 10.0
        state.next_at = now + self._span(period, floor=PERIOD_FLOOR_SECONDS)
        task = asyncio.create_task(self._probe(replica, kind, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _probe(self, replica: ReplicaState, kind: ProbeKind, state: _ProbeState) -> None:
        try:
            if state.plan is None:
                outcome = ProbeOutcome(False, state.error)
            else:
                timeout = self.supervisor.clock.scaled(
                    state.plan.timeout, floor=TIMEOUT_FLOOR_SECONDS
                )
                outcome = await self.checker.check(state.plan.action, replica.ip, timeout)
        finally:
            state.running = False
        if self.supervisor.incarnation(replica.namespace, replica.name) == state.incarnation:
            self._record(replica, kind, state, outcome)

    def _record(
        self, replica: ReplicaState, kind: ProbeKind, state: _ProbeState, outcome: ProbeOutcome
    ) -> None:
        if outcome.success:
            state.successes, state.failures = state.successes + 1, 0
        else:
            state.successes, state.failures = 0, state.failures + 1
            log.debug("%s probe of %s failed: %s", kind, replica.name, outcome.detail)
        success_threshold = state.plan.success_threshold if state.plan else 1
        failure_threshold = state.plan.failure_threshold if state.plan else 3
        # A replica starts unready (the supervisor sees to that), so these two rules are all
        # of the kubelet's: ready after `successThreshold` successes in a row, unready after
        # `failureThreshold` failures in a row.
        if kind == "readiness":
            if state.successes >= success_threshold:
                self.supervisor.set_ready(replica.namespace, replica.name, True)
            elif state.failures >= failure_threshold:
                self.supervisor.set_ready(replica.namespace, replica.name, False)
        elif state.failures >= failure_threshold:
            reason = f"Liveness probe failed: {outcome.detail}"
            log.info("restarting %s/%s: %s", replica.namespace, replica.name, reason)
            self.supervisor.restart(replica.namespace, replica.name, reason)

    def _forget_others(self, running: set[tuple[str, str]]) -> None:
        for key in [key for key in self._states if key[:2] not in running]:
            del self._states[key]

    def _span(self, seconds: float, floor: float) -> timedelta:
        return timedelta(seconds=self.supervisor.clock.scaled(seconds, floor=floor))
