"""What the operator costs per Canary: API requests, tick lag, memory and CPU, and the emulator's.

Runs three processes: the API emulator (`benchmarks/emulator_server.py`, with its stand-in
Deployment controller), `kanaria operator` against it, and this driver, which stores N copies of
the seed's podinfo (Deployment, autoscaling/v2 HPA, Canary without metric checks, so no
Prometheus is needed) through the API and reads the operator's `/metrics`. It measures, while
every Canary is idle (Initialized) for `--idle-ticks` intervals:

* `api_requests_per_tick.idle`: kanaria's API requests per tick
  (`kanaria_kubernetes_api_requests_total` over the ticks in `flagger_canary_duration_seconds`);
  kopf's own watch and finalizer requests are not in it;
* `tick_lag_seconds`: p50 and p99 of how late ticks started (`kanaria_tick_lag_seconds`);
* `operator_rss_mib`, `operator_cpu_percent`, and the emulator's `emulator_cpu_percent` apart
  (from /proc, over the idle window; 100 % is one core);

then, unless `--no-release`, sets the image of every Deployment and measures
`api_requests_per_tick.release` until every Canary has Succeeded. `--json FILE` writes it all.

    .venv/bin/python -m benchmarks.kubernetes_operator --canaries 100 --time-scale 6 --json out.json
    .venv/bin/python -m benchmarks.kubernetes_operator --canaries 1000 --no-release --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client, config
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.emulator_throughput import cpu_seconds, emulator_process, rss_mib

ROOT = Path(__file__).parents[1]
SEED = ROOT / "examples" / "seed"
CANARY_API = ("flagger.app", "v1beta1", "test", "canaries")
INTERVAL_SECONDS = 60.0  # the seed's analysis.interval


@dataclass
class Scrape:
    """What the operator's /metrics said at one moment."""

    ticks: int = 0
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    lag_buckets: dict[float, float] = field(default_factory=dict)  # upper bound → count

    def __sub__(self, earlier: Scrape) -> Scrape:
        requests = collections.Counter(self.requests)
        requests.subtract(earlier.requests)
        buckets = {le: n - earlier.lag_buckets.get(le, 0) for le, n in self.lag_buckets.items()}
        return Scrape(self.ticks - earlier.ticks, requests, buckets)

    def per_tick(self) -> float:
        return round(sum(self.requests.values()) / max(self.ticks, 1), 2)

    def lag_quantile(self, q: float) -> float | None:
        """Prometheus' histogram_quantile: linear within the bucket the quantile falls in."""
        bounds = sorted(self.lag_buckets)
        total = self.lag_buckets.get(float("inf"), 0)
        if not total:
            return None
        rank, lower, below = q * total, 0.0, 0.0
        for bound in bounds:
            count = self.lag_buckets[bound]
            if count >= rank:
                if bound == float("inf"):
                    return lower
                return round(lower + (bound - lower) * (rank - below) / max(count - below, 1), 4)
            lower, below = bound, count
        return lower


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--idle-ticks", type=int, default=2)
    parser.add_argument("--no-release", dest="release", action="store_false")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        emulator = emulator_process(ROOT, Path(folder), "--rollout-delay", "0.1", "--history", "2")
        with emulator as (_, emulator_pid):
            kubeconfig = Path(folder) / "kubeconfig"
            api = await config.new_client_from_config(str(kubeconfig), persist_config=False)
            try:
                figures = await measure(api, kubeconfig, emulator_pid, args)
            finally:
                await api.close()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


async def measure(
    api: client.ApiClient, kubeconfig: Path, emulator_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    count, tick = args.canaries, INTERVAL_SECONDS / args.time_scale
    names = [f"app{index:05d}" for index in range(count)]
    await in_parallel([lambda name=name: apply_seed(api, name) for name in names])
    port = free_port()
    figures: dict[str, Any] = {"canaries": count, "interval_seconds": tick}
    with operator(kubeconfig, args.time_scale, port) as process:
        started = time.monotonic()
        await until(lambda: phases_are(api, "Initialized", count), within=max(900, 3 * tick))
        figures["initialized_seconds"] = round(time.monotonic() - started, 1)
        await asyncio.sleep(tick)  # let the last initializations' ticks pass
        idle = await window(port, process.pid, emulator_pid, args.idle_ticks * tick)
        figures |= idle
        figures["operator_rss_mib"] = round(rss_mib(process.pid), 1)
        figures["emulator_rss_mib"] = round(rss_mib(emulator_pid), 1)
        if args.release:
            released = await release(api, port, names)
            figures["api_requests_per_tick"]["release"] = released.pop("requests_per_tick")
            figures |= released
    return figures


async def window(port: int, operator_pid: int, emulator_pid: int, seconds: float) -> dict[str, Any]:
    """Idle figures over `seconds`: requests per tick, tick lag, both processes' CPU."""
    before, operator_cpu, emulator_cpu = (
        await scrape(port),
        cpu_seconds(operator_pid),
        cpu_seconds(emulator_pid),
    )
    await asyncio.sleep(seconds)
    seen = await scrape(port) - before
    return {
        "idle_ticks": seen.ticks,
        "api_requests_per_tick": {"idle": seen.per_tick()},
        "idle_requests_by_kind": per_tick_by_kind(seen),
        "tick_lag_seconds": {"p50": seen.lag_quantile(0.5), "p99": seen.lag_quantile(0.99)},
        "operator_cpu_percent": round(
            100 * (cpu_seconds(operator_pid) - operator_cpu) / seconds, 1
        ),
        "emulator_cpu_percent": round(
            100 * (cpu_seconds(emulator_pid) - emulator_cpu) / seconds, 1
        ),
    }


async def release(api: client.ApiClient, port: int, names: list[str]) -> dict[str, Any]:
    before, started = await scrape(port), time.monotonic()
    await in_parallel([lambda name=name: set_image(api, name) for name in names])
    await until(lambda: phases_are(api, "Succeeded", len(names)), within=3600)
    seen = await scrape(port) - before
    return {
        "release_seconds": round(time.monotonic() - started, 1),
        "release_ticks": seen.ticks,
        "requests_per_tick": seen.per_tick(),
        "release_requests_by_kind": per_tick_by_kind(seen),
    }


def per_tick_by_kind(seen: Scrape) -> dict[str, float]:
    return {
        key: round(value / max(seen.ticks, 1), 3)
        for key, value in sorted(seen.requests.items(), key=lambda item: -item[1])
        if value
    }


async def scrape(port: int) -> Scrape:
    """Ticks so far, kanaria's API requests by verb and resource, and the tick lag buckets."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flagger_canary_duration_seconds_count":
                found.ticks += int(sample.value)
            elif sample.name == "kanaria_kubernetes_api_requests_total":
                found.requests[f"{sample.labels['verb']} {sample.labels['resource']}"] += int(
                    sample.value
                )
            elif sample.name == "kanaria_tick_lag_seconds_bucket":
                found.lag_buckets[float(sample.labels["le"])] = sample.value
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def operator(kubeconfig: Path, time_scale: float, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "kanaria", "operator", "--kubeconfig", str(kubeconfig),
        "--namespace", "test", "--time-scale", str(time_scale), "--port", str(port),
        "--metrics-server", "http://127.0.0.1:9",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


async def until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done after {within} s")
        await asyncio.sleep(2)


async def phases_are(api: client.ApiClient, phase: str, count: int) -> bool:
    listed = await client.CustomObjectsApi(api).list_namespaced_custom_object(*CANARY_API)
    done = [item for item in listed["items"] if (item.get("status") or {}).get("phase") == phase]
    return len(done) == count


async def in_parallel(calls: list[Callable[[], Awaitable[None]]], at_once: int = 8) -> None:
    """Run the calls, `at_once` at a time (a burst of thousands would time out)."""
    pending = list(reversed(calls))

    async def worker() -> None:
        while pending:
            await pending.pop()()

    await asyncio.gather(*(worker() for _ in range(at_once)))


async def apply_seed(api: client.ApiClient, name: str) -> None:
    for file in ("podinfo.yaml", "hpa.yaml", "podinfo-canary.yaml"):
        manifest = yaml.safe_load((SEED / file).read_text().replace("podinfo", name))
        manifest["metadata"].pop("namespace", None)
        if manifest["kind"] == "Deployment":
            await client.AppsV1Api(api).create_namespaced_deployment("test", manifest)
        elif manifest["kind"] == "HorizontalPodAutoscaler":
            manifest["apiVersion"] = "autoscaling/v2"  # v2beta2 is no longer served
            await client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
                "test", manifest
            )
        else:
            manifest["spec"]["analysis"].update(metrics=[], webhooks=[])
            await client.CustomObjectsApi(api).create_namespaced_custom_object(
                *CANARY_API, manifest
            )


async def set_image(api: client.ApiClient, name: str) -> None:
    container = {"name": "podinfod", "image": "stefanprodan/podinfo:3.1.1"}
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    await client.AppsV1Api(api).patch_namespaced_deployment(name, "test", patch)


if __name__ == "__main__":
    asyncio.run(main())
