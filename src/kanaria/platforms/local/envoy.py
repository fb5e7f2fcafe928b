"""Run the local platform's Envoy and hand it configuration through watched files.

Envoy reads its listeners (LDS), clusters (CDS) and one route configuration per listener (RDS)
from JSON files in a state directory and reloads each file when it is renamed into place. This
module owns that directory and the Envoy process:

* `apply()` writes only the files that changed, each atomically (a write in place is ignored by
  Envoy's watcher), then reads every applied version back from the admin API before it returns.
  If Envoy rejects a file, the previous files are put back, so a bad update never replaces a
  working one, not even for the next Envoy start.
* Files go in an order that never leaves a route pointing at a missing cluster or a listener
  at a missing route: clusters (old and new together), then routes, then listeners, and only
  then what is no longer needed.
* Envoy runs in its own session with its output in a file, so it outlives the control plane
  that started it; the next control plane adopts it from `process.json` instead of starting a
  second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from kanaria.errors import ConfigError, PermanentError, TemporaryError
from kanaria.platforms.local.binaries import (
    Detached,
    absolute_path,
    envoy_path,
    http_get,
    write_atomically,
)
from kanaria.platforms.local.mesh import EnvoyResources, Resource

LDS_FILE = "lds.json"
CDS_FILE = "cds.json"
RDS_DIR = "rds"
PROCESS_FILE = "process.json"
BOOTSTRAP_FILE = "bootstrap.json"
ADMIN_ADDRESS_FILE = "admin-address"
LOG_FILE = "envoy.log"
# Istio's request-duration buckets (ms), set explicitly rather than trusting Envoy's defaults.
ISTIO_DURATION_BUCKETS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    600000, 1800000, 3600000,
)  # fmt: skip
_POLL_SECONDS = 0.001
_FAILURE_COUNTERS = ("update_rejected", "update_failure")


@dataclass(frozen=True)
class ApplyResult:
    """What one `apply()` changed and how long Envoy took to acknowledge all of it."""

    changed: tuple[str, ...]
    seconds: float


def render_bootstrap(state_dir: Path) -> str:
    """The static bootstrap: admin on a kernel-chosen loopback port, xDS from our files."""
    bootstrap = {
        "node": {"id": "kanaria-local", "cluster": "kanaria-local"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        # Histograms only refresh at each flush; Envoy's 5 s default delays P99 checks.
        "stats_flush_interval": "1s",
        "stats_config": {
            "histogram_bucket_settings": [
                {
                    "match": {"safe_regex": {"regex": r"^cluster\..*\.upstream_rq_time$"}},
                    "buckets": list(ISTIO_DURATION_BUCKETS),
                }
            ]
        },
        "dynamic_resources": {
            "lds_config": _file_source(state_dir / LDS_FILE),
            "cds_config": _file_source(state_dir / CDS_FILE),
        },
    }
    return json.dumps(bootstrap, indent=1, sort_keys=True)


def render_files(resources: EnvoyResources, state_dir: Path) -> dict[str, str]:
    """Every xDS file for a translation, keyed by its path relative to the state directory."""
    listeners = [_with_rds_file(listener, state_dir) for listener in resources.listeners]
    files = {
        LDS_FILE: _discovery_file(listeners),
        CDS_FILE: _discovery_file(list(resources.clusters)),
    }
    for route_config in resources.route_configs:
        files[rds_file(str(route_config["name"]))] = _discovery_file([route_config])
    return files


def rds_file(route_config_name: str) -> str:
    # Kubernetes names never contain "_", so swapping "|" for it cannot collide.
    return f"{RDS_DIR}/{route_config_name.replace('|', '_')}.json"


def _file_source(path: Path) -> Resource:
    return {"resource_api_version": "V3", "path_config_source": {"path": str(path)}}


def _with_rds_file(listener: Resource, state_dir: Path) -> Resource:
    listener = json.loads(json.dumps(listener))  # a deep copy: the caller's dict stays as it was
    for chain in listener.get("filter_chains", []):
        for network_filter in chain.get("filters", []):
            rds = network_filter.get("typed_config", {}).get("rds")
            if rds is not None:
                path = state_dir / rds_file(rds["route_config_name"])
                rds["config_source"] = _file_source(path)
    return listener


def _discovery_file(resources: list[Resource]) -> str:
    body = json.dumps(resources, sort_keys=True, separators=(",", ":"))
    version = hashlib.sha256(body.encode()).hexdigest()[:16]
    return json.dumps({"version_info": version, "resources": resources}, indent=1, sort_keys=True)


def file_version(text: str) -> str:
    return str(json.loads(text)["version_info"])


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@dataclass
class _Step:
    """A file this apply replaced, with what it held before, so it can be put back."""

    name: str
    previous: str | None


class EnvoyProcess:
    """A running Envoy serving the configuration files in `state_dir`."""

    def __init__(self, state_dir: Path, process: Detached, admin_address: str) -> None:
        self.state_dir = state_dir
        self.process = process
        self.admin_address = admin_address
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    # ---- life cycle --------------------------------------------------------------------

    @classmethod
    async def start(
        cls, state_dir: Path, *, log_level: str = "warning", ready_within: float = 15.0
    ) -> EnvoyProcess:
        """Start Envoy on the files in `state_dir`; the last applied config serves at once."""
        state_dir = absolute_path(state_dir)
        if await cls.adopt(state_dir) is not None:
            raise PermanentError(f"an Envoy already serves {state_dir}; adopt it instead")
        _prepare_state_dir(state_dir)
        bootstrap = str(state_dir / BOOTSTRAP_FILE)
        command = [
            str(envoy_path()),
            "--config-path", bootstrap,
            "--admin-address-path", str(state_dir / ADMIN_ADDRESS_FILE),
            "--disable-hot-restart",
            "--concurrency", "1",
            "--drain-time-s", "2",
            "--log-level", log_level,
        ]  # fmt: skip
        process = Detached.spawn(command, state_dir / LOG_FILE, bootstrap, state_dir / PROCESS_FILE)
        try:
            address = await _await_ready(process, state_dir, ready_within)
        except BaseException:
            process.kill_now()
            raise
        process.record(admin_address=address)
        return cls(state_dir, process, address)

    @classmethod
    async def adopt(cls, state_dir: Path) -> EnvoyProcess | None:
        """The Envoy a previous control plane left running on `state_dir`, if it still runs."""
        state_dir = absolute_path(state_dir)
        found = await Detached.adopt_ready(
            state_dir / PROCESS_FILE, "admin_address", "/ready", "Envoy"
        )
        return None if found is None else cls(state_dir, *found)

    @classmethod
    async def ensure(cls, state_dir: Path, *, log_level: str = "warning") -> EnvoyProcess:
        """Adopt the running Envoy of `state_dir`, or start one."""
        return await cls.adopt(state_dir) or await cls.start(state_dir, log_level=log_level)

    def running(self) -> bool:
        return self.process.running()

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; the config files stay for a restart."""
        await self.process.stop(grace)

    # ---- configuration -----------------------------------------------------------------

    async def apply(self, resources: EnvoyResources, ack_within: float = 5.0) -> ApplyResult:
        """Make Envoy serve `resources`; return once Envoy reports every new version.

        Raises `ConfigError` when Envoy rejects the configuration (the previous files are put
        back first) and `TemporaryError` when Envoy does not answer within `ack_within`.
        """
        async with self._lock:
            started = time.monotonic()
            desired = render_files(resources, self.state_dir)
            steps: list[_Step] = []
            try:
                await self._apply_in_order(desired, steps, started + ack_within)
            except (ConfigError, TemporaryError):
                await self._put_back(steps)
                raise
            return ApplyResult(tuple(s.name for s in steps), time.monotonic() - started)

    async def _apply_in_order(
        self, desired: Mapping[str, str], steps: list[_Step], deadline: float
    ) -> None:
        current_lds = _read(self.state_dir / LDS_FILE) or _discovery_file([])
        live_routes = _route_subscriptions(current_lds)
        wanted_routes = _route_subscriptions(desired[LDS_FILE])
        current_cds = _read(self.state_dir / CDS_FILE)
        if desired[CDS_FILE] != current_cds:
            # Clusters old and new together first, so no live route loses its cluster.
            merged = _merge_clusters(current_cds, desired[CDS_FILE])
            await self._replace({CDS_FILE: merged}, {}, steps, deadline)
        changed_live = {
            name: desired[name]
            for name in (rds_file(r) for r in live_routes)
            if name in desired and desired[name] != _read(self.state_dir / name)
        }
        await self._replace(changed_live, live_routes, steps, deadline)
        log_offset = _size(self.state_dir / LOG_FILE)
        for name in (rds_file(r) for r in wanted_routes if r not in live_routes):
            self._write(name, desired[name], steps)  # Envoy reads these when a listener asks
        if desired[LDS_FILE] != current_lds:
            fresh = {
                _route_prefix(route, prefix): file_version(desired[rds_file(route)])
                for route, prefix in wanted_routes.items()
                if route not in live_routes
            }
            await self._replace({LDS_FILE: desired[LDS_FILE]}, {}, steps, deadline)
            await self._await_versions(fresh, {}, deadline, log_offset)
        if _read(self.state_dir / CDS_FILE) != desired[CDS_FILE]:
            await self._replace({CDS_FILE: desired[CDS_FILE]}, {}, steps, deadline)
        for name in (rds_file(r) for r in live_routes if r not in wanted_routes):
            (self.state_dir / name).unlink(missing_ok=True)

    async def _replace(
        self,
        files: Mapping[str, str],
        routes: Mapping[str, str],
        steps: list[_Step],
        deadline: float,
    ) -> None:
        """Write files whose subscriptions exist and wait until Envoy reports their versions."""
        if not files:
            return
        expected = {}
        for name, text in files.items():
            expected[self._prefix_of(name, routes)] = file_version(text)
        baseline = await self._failure_counts(expected)
        log_offset = _size(self.state_dir / LOG_FILE)
        for name, text in files.items():
            self._write(name, text, steps)
        await self._await_versions(expected, baseline, deadline, log_offset)

    def _prefix_of(self, name: str, routes: Mapping[str, str]) -> str:
        if name == CDS_FILE:
            return "cluster_manager.cds"
        if name == LDS_FILE:
            return "listener_manager.lds"
        route = next(r for r in routes if rds_file(r) == name)
        return _route_prefix(route, routes[route])

    def _write(self, name: str, text: str, steps: list[_Step]) -> None:
        path = self.state_dir / name
        steps.append(_Step(name, _read(path)))
        write_atomically(path, text)

    async def _put_back(self, steps: list[_Step]) -> None:
        """Undo this apply's writes, newest first, so the files match what Envoy serves."""
        for step in reversed(steps):
            path = self.state_dir / step.name
            if step.previous is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, step.previous)
        await asyncio.sleep(0.05)  # let Envoy pick the restored files up before the next apply

    async def _failure_counts(self, expected: Mapping[str, str]) -> dict[str, int]:
        stats = await self.stats(_stats_filter(expected))
        return {prefix: _failures(stats, prefix) for prefix in expected}

    async def _await_versions(
        self,
        expected: Mapping[str, str],
        baseline: Mapping[str, int],
        deadline: float,
        log_offset: int | None = None,
    ) -> None:
        """Poll the admin stats until each subscription shows its version, or fails."""
        pending = dict(expected)
        while pending:
            stats = await self.stats(_stats_filter(pending))
            for prefix in list(pending):
                if stats.get(f"{prefix}.version_text") == pending[prefix]:
                    del pending[prefix]
                elif _failures(stats, prefix) > baseline.get(prefix, 0):
                    reason = _rejection_reason(self.state_dir / LOG_FILE, log_offset)
                    raise ConfigError(f"Envoy rejected {prefix}: {reason}")
            if pending and time.monotonic() > deadline:
                raise TemporaryError(f"Envoy did not apply {sorted(pending)} in time")
            if pending:
                await asyncio.sleep(_POLL_SECONDS)

    # ---- reading back ------------------------------------------------------------------

    async def stats(self, pattern: str) -> dict[str, str]:
        """Admin stats whose names match a regex, as raw strings (text readouts unquoted)."""
        status, body = await http_get(self.admin_address, f"/stats?filter={quote(pattern)}")
        if status != 200:
            raise TemporaryError(f"Envoy admin /stats answered {status}")
        result = {}
        for line in body.decode().splitlines():
            name, sep, value = line.rpartition(": ")
            if sep:
                result[name] = value.strip('"')
        return result

    async def cluster_counters(self, counter: str = "upstream_rq_total") -> dict[str, int]:
        """One counter of every cluster, by cluster name (e.g. requests sent to each)."""
        stats = await self.stats(rf"^cluster\.[^.]*\.{re.escape(counter)}$")
        prefix_length, suffix_length = len("cluster."), len(counter) + 1
        return {name[prefix_length:-suffix_length]: int(value) for name, value in stats.items()}

    async def cluster_responses(self) -> dict[str, dict[int, int]]:
        """Responses by status code for every cluster: what `istio_requests_total` counts."""
        stats = await self.stats(r"^cluster\.[^.]*\.upstream_rq_[1-5][0-9][0-9]$")
        responses: dict[str, dict[int, int]] = {}
        for name, value in stats.items():
            cluster, _, code = name[len("cluster.") :].rpartition(".upstream_rq_")
            responses.setdefault(cluster, {})[int(code)] = int(value)
        return responses

    async def route_configs(self) -> dict[str, Resource]:
        """The route configurations Envoy is serving now, by name, from its config dump."""
        configs = await self._config_dump("dynamic_route_configs")
        return {c["route_config"]["name"]: c["route_config"] for c in configs}

    async def clusters(self) -> dict[str, Resource]:
        """The clusters Envoy is using now, by name (stats of removed ones may linger)."""
        configs = await self._config_dump("dynamic_active_clusters")
        return {c["cluster"]["name"]: c["cluster"] for c in configs}

    async def _config_dump(self, resource: str) -> list[Resource]:
        path = f"/config_dump?resource={resource}"
        status, body = await http_get(self.admin_address, path)
        if status != 200:
            raise TemporaryError(f"Envoy admin {path} answered {status}")
        configs: list[Resource] = json.loads(body).get("configs", [])
        return configs


# ---- helpers without state -----------------------------------------------------------------


def _prepare_state_dir(state_dir: Path) -> None:
    (state_dir / RDS_DIR).mkdir(parents=True, exist_ok=True)
    write_atomically(state_dir / BOOTSTRAP_FILE, render_bootstrap(state_dir))
    for name in (LDS_FILE, CDS_FILE):
        if not (state_dir / name).exists():
            write_atomically(state_dir / name, _discovery_file([]))
    (state_dir / ADMIN_ADDRESS_FILE).unlink(missing_ok=True)


async def _await_ready(process: Detached, state_dir: Path, within: float) -> str:
    deadline = time.monotonic() + within
    address_file = state_dir / ADMIN_ADDRESS_FILE
    while time.monotonic() < deadline:
        if not process.running():
            raise TemporaryError(f"Envoy exited ({process.exit_code()}): {_tail(state_dir)}")
        address = (_read(address_file) or "").strip()
        if address:
            with contextlib.suppress(TemporaryError):
                status, _ = await http_get(address, "/ready", time_limit=0.5)
                if status == 200:
                    return address
        await asyncio.sleep(0.005)
    raise TemporaryError(f"Envoy was not ready within {within} s: {_tail(state_dir)}")


def _route_subscriptions(lds_text: str) -> dict[str, str]:
    """Route config name → HTTP stat prefix, for every listener in an LDS file."""
    routes = {}
    for listener in json.loads(lds_text)["resources"]:
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                config = network_filter.get("typed_config", {})
                if "rds" in config:
                    routes[config["rds"]["route_config_name"]] = config["stat_prefix"]
    return routes


def _route_prefix(route_config_name: str, stat_prefix: str) -> str:
    return f"http.{stat_prefix}.rds.{route_config_name}"


def _merge_clusters(current: str | None, desired: str) -> str:
    """Current and desired clusters together; desired definitions win."""
    if current is None:
        return desired
    merged = {c["name"]: c for c in json.loads(current)["resources"]}
    merged.update({c["name"]: c for c in json.loads(desired)["resources"]})
    if len(merged) == len(json.loads(desired)["resources"]):
        return desired
    return _discovery_file([merged[name] for name in sorted(merged)])


def _stats_filter(prefixes: Iterable[str]) -> str:
    names = "|".join(re.escape(p) for p in prefixes)
    return rf"^({names})\.(version_text|update_rejected|update_failure)$"


def _failures(stats: Mapping[str, str], prefix: str) -> int:
    return sum(int(stats.get(f"{prefix}.{counter}", "0")) for counter in _FAILURE_COUNTERS)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _rejection_reason(log_path: Path, offset: int | None) -> str:
    """Envoy's own words for the rejection, from the log lines written since the update."""
    try:
        with log_path.open("rb") as log_file:
            log_file.seek(offset or max(0, _size(log_path) - 4096))
            lines = log_file.read().decode(errors="replace").splitlines()
    except OSError:
        return "no reason logged"
    reasons = [line.split("] ", 3)[-1] for line in lines if "rejected" in line or "fail" in line]
    return reasons[-1] if reasons else "no reason logged"


def _tail(state_dir: Path) -> str:
    lines = (_read(state_dir / LOG_FILE) or "").strip().splitlines()
    return " | ".join(lines[-5:]) or "no log output"
