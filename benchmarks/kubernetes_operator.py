"""How much the operator asks of the API server, and how much memory it takes, per Canary.

Runs the API emulator in this process and `kanaria operator` as a child process against it,
with N copies of the seed's podinfo (Deployment, HPA, Canary without metric checks, so no
Prometheus is needed). Prints:

* kanaria's API requests per canary per tick, by verb and resource, while every Canary is idle
  (Initialized) and during a release (from `set image` to Succeeded), read from the operator's
  own `/metrics` (`kanaria_kubernetes_api_requests_total` and the tick histogram's count);
  kopf's watches and finalizer patches are not in these numbers;
* the operator's resident memory (VmRSS) once all N Canaries are initialized.

    .venv/bin/python -m benchmarks.kubernetes_operator --canaries 10 --time-scale 6
    .venv/bin/python -m benchmarks.kubernetes_operator --canaries 100 --time-scale 1 --no-release

The emulator answers a request in 20-50 ms (kmock matches every request against its rules),
so with many Canaries keep the ticks long enough for it to keep up: 100 Canaries at the seed's
real 1-minute interval.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.support.k8s.fixtures import EmulatedCluster, emulated_cluster

SEED = Path(__file__).parents[1] / "examples" / "seed"
CANARIES = "flagger.app/v1beta1/canaries"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=6.0)
    parser.add_argument("--idle-ticks", type=int, default=3)
    parser.add_argument("--no-release", dest="release", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with emulated_cluster(Path(folder) / "kubeconfig") as cluster:
            await measure(cluster, args.canaries, args.time_scale, args.idle_ticks, args.release)


async def measure(
    cluster: EmulatedCluster, count: int, time_scale: float, idle: int, release: bool
) -> None:
    cluster.emulator.deployment_controller(rollout_delay=0.1)
    cluster.emulator.spawn(forget_requests(cluster))
    names = [f"app{index:03d}" for index in range(count)]
    for name in names:
        await apply_seed(cluster, name)
    tick = 60 / time_scale
    port = free_port()
    with operator(cluster, time_scale, port) as process:
        started = time.monotonic()
        await until(lambda: all(phase(cluster, name) == "Initialized" for name in names), 900)
        print(f"{count} canaries initialized in {time.monotonic() - started:.1f} s")
        await asyncio.sleep(tick)  # let the last initializations' ticks pass
        before = await scrape(port)
        await asyncio.sleep(idle * tick)
        report("idle (Initialized)", await scrape(port) - before)
        print(f"memory: operator VmRSS {rss_kib(process.pid) / 1024:.1f} MiB, {count} canaries")
        if not release:
            return
        before = await scrape(port)
        for name in names:
            await set_image(cluster, name, "stefanprodan/podinfo:3.1.1")
        await until(lambda: all(phase(cluster, name) == "Succeeded" for name in names), 1800)
        report("release (set image → Succeeded)", await scrape(port) - before)


def report(what: str, seen: collections.Counter[str]) -> None:
    ticks = seen.pop("ticks")
    total = sum(seen.values())
    print(f"{what}: {ticks} ticks, {total} API requests, {total / max(ticks, 1):.1f} per tick")
    for key, value in sorted(seen.items(), key=lambda item: -item[1]):
        print(f"    {key:<40} {value / max(ticks, 1):5.2f} per tick")


async def scrape(port: int) -> collections.Counter[str]:
    """Ticks so far, and kanaria's API requests by verb and resource, from the operator."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flagger_canary_duration_seconds_count":
                found["ticks"] += int(sample.value)
            elif sample.name == "kanaria_kubernetes_api_requests_total":
                key = f"{sample.labels['verb']} {sample.labels['resource']}"
                found[key] += int(sample.value)
    return found


async def forget_requests(cluster: EmulatedCluster) -> None:
    """kmock matches each request against every earlier one it logged, so a long run slows
    down quadratically; this benchmark asserts nothing about them, so the log is dropped."""
    while True:
        await asyncio.sleep(1)
        cluster.emulator._requests.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def operator(
    cluster: EmulatedCluster, time_scale: float, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "kanaria", "operator", "--kubeconfig", str(cluster.kubeconfig),
        "--namespace", "test", "--time-scale", str(time_scale), "--port", str(port),
        "--metrics-server", "http://127.0.0.1:9",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def until(check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done after {within} s")
        await asyncio.sleep(0.5)


def phase(cluster: EmulatedCluster, name: str) -> str | None:
    found = cluster.emulator.get_object(CANARIES, "test", name) or {}
    return (found.get("status") or {}).get("phase")


async def apply_seed(cluster: EmulatedCluster, name: str) -> None:
    for file in ("podinfo.yaml", "hpa.yaml", "podinfo-canary.yaml"):
        text = (SEED / file).read_text().replace("podinfo", name)
        manifest = yaml.safe_load(text)
        manifest["metadata"].pop("namespace", None)
        if manifest["kind"] == "Canary":
            manifest["spec"]["analysis"].update(metrics=[], webhooks=[])
        if manifest["kind"] == "HorizontalPodAutoscaler":
            manifest["apiVersion"] = "autoscaling/v2"
        resource = {
            "Deployment": "apps/v1/deployments",
            "HorizontalPodAutoscaler": "autoscaling/v2/horizontalpodautoscalers",
            "Canary": CANARIES,
        }[manifest["kind"]]
        await cluster.emulator.create_object(resource, manifest, "test")


async def set_image(cluster: EmulatedCluster, name: str, image: str) -> None:
    from kubernetes_asyncio import client  # noqa: PLC0415

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": image}]}}}}
    await client.AppsV1Api(cluster.api).patch_namespaced_deployment(name, "test", patch)


if __name__ == "__main__":
    asyncio.run(main())
