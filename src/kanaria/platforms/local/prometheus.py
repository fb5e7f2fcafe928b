"""Run the local platform's Prometheus, which turns Envoy's stats into Istio's metrics.

Flagger's Istio checks query `istio_requests_total` and
`istio_request_duration_milliseconds_bucket` with `destination_workload` and friends. On the
local platform Envoy is the whole mesh, so Prometheus scrapes Envoy's per-cluster stats every
second and renames them with `metric_relabel_configs`: the cluster name
(`namespace|service|port|subset|workload`, see `mesh.ClusterKey`) becomes Istio's destination
labels, Envoy's response code becomes `response_code`, and `reporter="destination"` is added.
The very same PromQL then runs on both platforms.

Scrape targets live in file_sd JSON files that are replaced atomically, so the Envoy admin
address and the apps' metrics ports can change without a Prometheus reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from kanaria.errors import PermanentError, TemporaryError
from kanaria.platforms.local.binaries import (
    Detached,
    absolute_path,
    free_port,
    http_get,
    prometheus_path,
    write_atomically,
)
from kanaria.platforms.local.mesh import CLUSTER_NAME_REGEX

CONFIG_FILE = "prometheus.yml"
ENVOY_TARGETS_FILE = "envoy-targets.json"
APP_TARGETS_FILE = "app-targets.json"
PROCESS_FILE = "process.json"
LOG_FILE = "prometheus.log"
DATA_DIR = "data"
ENVOY_JOB = "envoy"
APPS_JOB = "kubernetes-pods"


@dataclass(frozen=True)
class ScrapeTarget:
    """An app's metrics endpoint on loopback, with the labels its series should carry.

    For Flagger's `kubernetes` queries use `kubernetes_namespace` and `kubernetes_pod_name`.
    """

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"


def istio_relabel_rules() -> list[dict[str, Any]]:
    """Envoy cluster stats → Istio's names and labels; every other series passes unchanged."""
    istio = "istio_[a-z_]+"
    cluster = [f"{istio};{CLUSTER_NAME_REGEX}"]
    rules: list[dict[str, Any]] = [
        _rename("envoy_cluster_upstream_rq", "istio_requests_total"),
        _rename(
            "envoy_cluster_upstream_rq_time_(bucket|sum|count)",
            "istio_request_duration_milliseconds_$1",
        ),
        _copy(["__name__", "envoy_response_code"], "istio_requests_total;(.+)", "response_code"),
    ]
    for label, replacement in (
        ("destination_workload", "$5"),
        ("destination_workload_namespace", "$1"),
        ("destination_service_name", "$2"),
        ("destination_service_namespace", "$1"),
        ("destination_service", "$2.$1.svc.cluster.local"),
    ):
        rules.append(_copy(["__name__", "envoy_cluster_name"], cluster[0], label, replacement))
    for label, value in (("reporter", "destination"), ("request_protocol", "http")):
        rules.append(_copy(["__name__"], istio, label, value))
    # An empty replacement removes a label; labeldrop would hit every envoy_* series too.
    for label in ("envoy_cluster_name", "envoy_response_code"):
        rules.append(_copy(["__name__"], istio, label, ""))
    return rules


def _rename(pattern: str, name: str) -> dict[str, Any]:
    return _copy(["__name__"], pattern, "__name__", name)


def _copy(sources: list[str], regex: str, target: str, replacement: str = "$1") -> dict[str, Any]:
    return {
        "source_labels": sources,
        "regex": regex,
        "target_label": target,
        "replacement": replacement,
    }


def render_config(state_dir: Path, scrape_interval: str = "1s") -> str:
    """prometheus.yml: Envoy (relabelled to Istio names) and the apps, both from file_sd."""
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": [
            {
                "job_name": ENVOY_JOB,
                "metrics_path": "/stats/prometheus",
                # Only stats that have ever moved: a fraction of Envoy's ~1500 series.
                "params": {"usedonly": [""]},
                "file_sd_configs": [{"files": [str(state_dir / ENVOY_TARGETS_FILE)]}],
                "metric_relabel_configs": istio_relabel_rules(),
            },
            {
                "job_name": APPS_JOB,
                "file_sd_configs": [{"files": [str(state_dir / APP_TARGETS_FILE)]}],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def render_targets(targets: Iterable[ScrapeTarget]) -> str:
    """A file_sd document; the metrics path rides in the `__metrics_path__` label."""
    groups = []
    for target in targets:
        labels = dict(target.labels)
        if target.metrics_path != "/metrics":
            labels["__metrics_path__"] = target.metrics_path
        groups.append({"targets": [target.address], "labels": labels})
    return json.dumps(groups, indent=1, sort_keys=True)


class PrometheusProcess:
    """A running Prometheus whose config, data and targets live in `state_dir`."""

    def __init__(self, state_dir: Path, process: Detached, address: str) -> None:
        self.state_dir = state_dir
        self.process = process
        self.address = address

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @classmethod
    async def start(
        cls,
        state_dir: Path,
        *,
        port: int | None = None,
        envoy_admin: str | None = None,
        targets: Sequence[ScrapeTarget] = (),
        retention: str = "6h",
        ready_within: float = 30.0,
    ) -> PrometheusProcess:
        """Start Prometheus on 127.0.0.1:`port` (a free one if None) and wait for `/-/ready`."""
        state_dir = absolute_path(state_dir)
        if await cls.adopt(state_dir) is not None:
            raise PermanentError(f"a Prometheus already runs on {state_dir}; adopt it instead")
        config = state_dir / CONFIG_FILE
        write_atomically(config, render_config(state_dir))
        write_atomically(state_dir / ENVOY_TARGETS_FILE, _envoy_targets(envoy_admin))
        write_atomically(state_dir / APP_TARGETS_FILE, render_targets(targets))
        address = f"127.0.0.1:{port or free_port()}"
        command = [
            str(prometheus_path()),
            f"--config.file={config}",
            f"--storage.tsdb.path={state_dir / DATA_DIR}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address={address}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        process = Detached.spawn(
            command, state_dir / LOG_FILE, str(config), state_dir / PROCESS_FILE
        )
        try:
            await _await_ready(process, address, state_dir, ready_within)
        except BaseException:
            process.kill_now()
            raise
        process.record(address=address)
        return cls(state_dir, process, address)

    @classmethod
    async def adopt(cls, state_dir: Path) -> PrometheusProcess | None:
        """The Prometheus a previous control plane left running on `state_dir`, if any."""
        state_dir = absolute_path(state_dir)
        found = await Detached.adopt_ready(
            state_dir / PROCESS_FILE, "address", "/-/ready", "Prometheus"
        )
        return None if found is None else cls(state_dir, *found)

    @classmethod
    async def ensure(
        cls, state_dir: Path, *, envoy_admin: str | None = None, port: int | None = None
    ) -> PrometheusProcess:
        """Adopt the running Prometheus of `state_dir` (pointing it at Envoy), or start one."""
        adopted = await cls.adopt(state_dir)
        if adopted is None:
            return await cls.start(state_dir, envoy_admin=envoy_admin, port=port)
        adopted.set_envoy(envoy_admin)
        return adopted

    def running(self) -> bool:
        return self.process.running()

    async def stop(self, grace: float = 10.0) -> None:
        await self.process.stop(grace)

    def set_envoy(self, admin_address: str | None) -> None:
        """Point the Envoy scrape job at an admin address (it changes when Envoy restarts)."""
        write_atomically(self.state_dir / ENVOY_TARGETS_FILE, _envoy_targets(admin_address))

    def update_targets(self, targets: Iterable[ScrapeTarget]) -> None:
        """Replace the apps' scrape targets; Prometheus notices the renamed file by itself."""
        write_atomically(self.state_dir / APP_TARGETS_FILE, render_targets(targets))

    async def query(self, promql: str, time_limit: float = 5.0) -> list[dict[str, Any]]:
        """An instant query's result list (as in Prometheus's HTTP API)."""
        path = f"/api/v1/query?query={quote(promql)}"
        status, body = await http_get(self.address, path, time_limit=time_limit)
        try:
            answer = json.loads(body)
        except json.JSONDecodeError as exc:
            raise TemporaryError(f"Prometheus answered {status} without JSON") from exc
        if answer.get("status") != "success":
            raise TemporaryError(f"Prometheus query failed: {answer.get('error', status)}")
        result = answer["data"]["result"]
        return result if isinstance(result, list) else [{"value": result}]

    async def query_value(self, promql: str) -> float | None:
        """The single value of a query, or None for no data or NaN (Flagger's "no values")."""
        result = await self.query(promql)
        if not result:
            return None
        value = float(result[-1]["value"][1])
        return None if math.isnan(value) else value

    async def targets_up(self) -> dict[str, bool]:
        """Scrape health by target address, from `/api/v1/targets`."""
        status, body = await http_get(self.address, "/api/v1/targets")
        if status != 200:
            raise TemporaryError(f"Prometheus /api/v1/targets answered {status}")
        return _target_health(body)

    async def wait_for_target(self, address: str, within: float = 15.0) -> float:
        """Wait until `address` has been scraped successfully; the seconds it took.

        Prometheus hands new file_sd targets to its scrapers at most every 5 s, so a target
        written just now (or at start) is not scraped at once; until then the Istio queries
        see no data.
        """
        started = time.monotonic()
        for _ in range(math.ceil(within / 0.1)):
            if (await self.targets_up()).get(address):
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        raise TemporaryError(f"Prometheus has not scraped {address} within {within} s")


def _target_health(answer: bytes) -> dict[str, bool]:
    active = json.loads(answer)["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] == "up" for t in active}


def _envoy_targets(admin_address: str | None) -> str:
    if admin_address is None:
        return render_targets([])
    return render_targets([ScrapeTarget(admin_address, {}, "/stats/prometheus")])


async def _await_ready(process: Detached, address: str, state_dir: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not process.running():
            log = (state_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
            raise TemporaryError(f"Prometheus exited: {' | '.join(log[-3:])}")
        with contextlib.suppress(TemporaryError):
            status, _ = await http_get(address, "/-/ready", time_limit=0.5)
            if status == 200:
                return
        await asyncio.sleep(0.01)
    raise TemporaryError(f"Prometheus was not ready on {address} within {within} s")
