"""What the operator's integration tests share: the seed's manifests applied to the emulator, the
operator run in a thread or as a process, a stand-in load tester, and readers of what a user
would look at (the Canary's status, the VirtualService's weights over time, the Events).

The seed's Canary runs unchanged. Its 1-minute interval becomes one second with
`--time-scale 60`; metric windows shrink by the same factor, but never below three seconds, so
each holds a few of Prometheus' one-second scrapes. Its webhooks call
`http://flagger-loadtester.test/`, which `--connect-to` sends to the stand-in on loopback.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import yaml
from aiohttp import web
from kubernetes_asyncio import client

from kanaria.engine.metrics import PrometheusRecorder
from kanaria.platforms.kubernetes.controller import OperatorConfig
from kanaria.platforms.kubernetes.operator import build_registry
from tests.support.k8s.fixtures import EmulatedCluster
from tests.support.k8s.operators import OperatorThread, running_operator

SEED = Path(__file__).parents[3] / "examples" / "seed"
TIME_SCALE = 60.0
FAST = 120.0  # for Canaries without metric checks: nothing waits on Prometheus' scrapes
MIN_METRIC_WINDOW = 3.0
LOADTESTER = ("flagger-loadtester.test", 80)

# (namespace, workload) → (success rate, latency in ms) that the Istio-like exporter serves
TRAFFIC: dict[tuple[str, str], tuple[float, float]] = {
    ("test", "podinfo"): (1.0, 40.0),
    ("test", "podinfo-primary"): (1.0, 40.0),
    ("test", "failing"): (0.9, 40.0),
    ("test", "failing-primary"): (1.0, 40.0),
}

CANARIES = "flagger.app/v1beta1/canaries"
DEPLOYMENTS = "apps/v1/deployments"
VIRTUAL_SERVICES = "networking.istio.io/v1beta1/virtualservices"
_PLURALS = {
    "Deployment": DEPLOYMENTS,
    "HorizontalPodAutoscaler": "autoscaling/v2/horizontalpodautoscalers",
    "Canary": CANARIES,
    "Service": "v1/services",
}


def seed(file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SEED / file).read_text())
    return loaded


def renamed(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    """The seed's Deployment, HPA or Canary for an application called `name` instead of podinfo."""
    text = json.dumps(manifest).replace('"podinfo"', json.dumps(name))
    text = text.replace("podinfo-canary", f"{name}-canary")
    renamed_manifest: dict[str, Any] = json.loads(text)
    return renamed_manifest


async def apply(cluster: EmulatedCluster, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create as `kubectl apply` would. The seed's HPA is autoscaling/v2beta2, which clusters
    since 1.26 no longer serve; the API server stores it as autoscaling/v2 (same fields here)."""
    body = copy.deepcopy(manifest)
    if body["apiVersion"] == "autoscaling/v2beta2":
        body["apiVersion"] = "autoscaling/v2"
    namespace = body["metadata"].pop("namespace", "test")
    return await cluster.emulator.create_object(_PLURALS[body["kind"]], body, namespace)


async def apply_seed(
    cluster: EmulatedCluster, name: str = "podinfo", analysis: dict[str, Any] | None = None
) -> None:
    """The seed's Deployment, HPA and Canary for `name`, with `analysis` fields replaced."""
    canary = renamed(seed("podinfo-canary.yaml"), name)
    canary["spec"]["analysis"].update(analysis or {})
    for manifest in (renamed(seed("podinfo.yaml"), name), renamed(seed("hpa.yaml"), name), canary):
        await apply(cluster, manifest)


async def set_image(cluster: EmulatedCluster, name: str, image: str) -> None:
    """`kubectl set image deployment/NAME podinfod=IMAGE -n test` (a strategic merge patch)."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": image}]}}}}
    await client.AppsV1Api(cluster.api).patch_namespaced_deployment(name, "test", patch)


QUICK: dict[str, Any] = {
    "metrics": [],
    "webhooks": [],
}  # the seed's analysis without checks: no Prometheus needed


def canary_status(cluster: EmulatedCluster, name: str = "podinfo") -> dict[str, Any]:
    found = cluster.emulator.get_object(CANARIES, "test", name) or {}
    status: dict[str, Any] = found.get("status") or {}
    return status


def phase(cluster: EmulatedCluster, name: str = "podinfo") -> str | None:
    value = canary_status(cluster, name).get("phase")
    return None if value is None else str(value)


def canary_weights(cluster: EmulatedCluster, name: str = "podinfo") -> list[int]:
    """Every canary weight the VirtualService ever had, repeats collapsed (10, 20, … 50, 0)."""
    history = cluster.emulator.objects[VIRTUAL_SERVICES, "test", name].history.raw
    weights: list[int] = []
    for version in history:
        if version is None:
            continue
        route = version.raw["spec"]["http"][0]["route"]
        weight = int(route[1]["weight"])
        if not weights or weights[-1] != weight:
            weights.append(weight)
    return weights


def current_weight(cluster: EmulatedCluster, name: str = "podinfo") -> int | None:
    found = cluster.emulator.get_object(VIRTUAL_SERVICES, "test", name)
    return None if found is None else int(found["spec"]["http"][0]["route"][1]["weight"])


async def events(cluster: EmulatedCluster, name: str = "podinfo") -> list[dict[str, Any]]:
    """The Canary's Events, oldest first, as `kubectl describe` lists them."""
    found = await client.CoreV1Api(cluster.api).list_namespaced_event(
        "test", field_selector=f"involvedObject.name={name}"
    )
    plain: list[dict[str, Any]] = cluster.api.sanitize_for_serialization(found.items)
    return sorted(plain, key=lambda event: (event["lastTimestamp"], event["metadata"]["name"]))


def config(
    cluster: EmulatedCluster,
    *,
    prometheus_url: str = "http://127.0.0.1:9",
    hooks: HookServer | None = None,
    **fields: Any,
) -> OperatorConfig:
    """The operator's settings for a test: the emulator, one namespace, time compressed."""
    connect_to = {LOADTESTER: ("127.0.0.1", hooks.port)} if hooks else {}
    settings: dict[str, Any] = {
        "namespaces": ("test",),
        "kubeconfig": cluster.kubeconfig,
        "metrics_server": prometheus_url,
        "port": None,
        "time_scale": TIME_SCALE,
        "min_metric_window": MIN_METRIC_WINDOW,
        "connect_to": connect_to,
        "peering_lifetime": 5,
    } | fields
    return OperatorConfig(**settings)


@contextlib.asynccontextmanager
async def operator_thread(
    cluster: EmulatedCluster,
    settings: OperatorConfig,
    recorder: PrometheusRecorder | None = None,
    priority: int = 0,
    identity: str | None = None,
) -> AsyncIterator[OperatorThread]:
    """kanaria's operator in a thread of its own (kopf cancels tasks of its loop when it stops)."""
    registry, _ = build_registry(settings, recorder)
    peering = "kanaria" if settings.leader_election else None
    async with running_operator(
        cluster.url,
        registry,
        namespaces=settings.namespaces,
        peering=peering,
        priority=priority,
        identity=identity,
        memo=kopf.Memo(),
    ) as thread:
        yield thread


@contextlib.contextmanager
def operator_process(
    cluster: EmulatedCluster, settings: OperatorConfig
) -> Iterator[subprocess.Popen[bytes]]:
    """`kanaria operator …` as a process of its own, which a test may kill."""
    command = [
        sys.executable, "-m", "kanaria", "operator",
        "--kubeconfig", str(cluster.kubeconfig),
        "--metrics-server", settings.metrics_server,
        "--time-scale", str(settings.time_scale),
        "--min-metric-window", str(settings.min_metric_window),
        "--port", "0",
    ]  # fmt: skip
    for namespace in settings.namespaces:
        command += ["--namespace", namespace]
    for (host, port), (address, real_port) in settings.connect_to.items():
        command += ["--connect-to", f"{host}:{port}:{address}:{real_port}"]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


class HookServer:
    """A stand-in for the load tester: answers every webhook with `status`, records payloads."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> HookServer:
        app = web.Application()
        app.router.add_post("/", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.calls.append(await request.json())
        return web.Response(status=self.status, text="ok")

    def names(self) -> list[str]:
        return [call["metadata"].get("cmd", "?")[:20] for call in self.calls]


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()
