"""How many requests a second the API emulator serves, with how many objects stored.

The operator benchmark at 1,000 Canaries is only as fast as the emulator under it. This runs
the emulator (`benchmarks/emulator_server.py`) in a process of its own, stores N copies of the
seed's Deployment, Service and Canary, then sends GETs of single objects (4 in 5) and LISTs
with a field selector (1 in 5, as `kubectl wait` makes them) from C concurrent clients for
S seconds, and prints requests per second and the emulator's CPU per request.

    .venv/bin/python -m benchmarks.emulator_throughput --objects 1000 --seconds 20
    # the same load on another tree's emulator (e.g. main's, to compare):
    .venv/bin/python -m benchmarks.emulator_throughput --objects 1000 --source /work/main
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent
SEED = ROOT / "examples" / "seed"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def emulator_process(source: Path, folder: Path, *extra: str) -> Iterator[tuple[str, int]]:
    """The emulator of the tree at `source`, as a child process: (its URL, its pid)."""
    environment = {**os.environ, "PYTHONPATH": str(source)}
    command = [
        sys.executable,
        str(HERE / "emulator_server.py"),
        "--kubeconfig",
        str(folder / "kubeconfig"),
        *extra,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=environment, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError("the emulator did not start")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def seed_objects(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The seed's Deployment and Canary and a Service, renamed, with their collection URLs."""
    deployment = yaml.safe_load((SEED / "podinfo.yaml").read_text().replace("podinfo", name))
    canary = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text().replace("podinfo", name))
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}}
    service["spec"] = {"selector": {"app": name}, "ports": [{"name": "http", "port": 9898}]}
    for manifest in (deployment, canary):
        manifest["metadata"].pop("namespace", None)
    return [
        ("/apis/apps/v1/namespaces/test/deployments", deployment),
        ("/api/v1/namespaces/test/services", service),
        ("/apis/flagger.app/v1beta1/namespaces/test/canaries", canary),
    ]


async def populate(session: aiohttp.ClientSession, url: str, count: int) -> None:
    pending = [item for index in range(count) for item in seed_objects(f"app{index:05d}")]

    async def worker() -> None:
        while pending:
            path, body = pending.pop()
            async with session.post(url + path, json=body) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")

    await asyncio.gather(*(worker() for _ in range(8)))


async def load(
    session: aiohttp.ClientSession, url: str, count: int, seconds: float, concurrency: int
) -> int:
    """Requests answered in `seconds` by `concurrency` clients."""
    deadline = time.monotonic() + seconds
    answered = itertools.count()
    rng = random.Random(7)

    async def worker() -> None:
        while time.monotonic() < deadline:
            name = f"app{rng.randrange(count):05d}"
            if rng.random() < 0.8:
                path = f"/apis/apps/v1/namespaces/test/deployments/{name}"
            else:
                selector = f"fieldSelector=metadata.name%3D{name}"
                path = f"/apis/flagger.app/v1beta1/namespaces/test/canaries?{selector}"
            async with session.get(url + path) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: {response.status}")
            next(answered)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return next(answered)


async def measure(source: Path, count: int, seconds: float, concurrency: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as folder,
        emulator_process(source, Path(folder)) as (url, pid),
    ):
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            await populate(session, url, count)
            populated = time.monotonic() - started
            cpu_before = cpu_seconds(pid)
            answered = await load(session, url, count, seconds, concurrency)
            cpu = cpu_seconds(pid) - cpu_before
        return {
            "source": str(source),
            "objects": 3 * count,
            "populate_seconds": round(populated, 1),
            "requests": answered,
            "requests_per_second": round(answered / seconds, 1),
            "emulator_cpu_ms_per_request": round(1000 * cpu / max(answered, 1), 2),
            "emulator_rss_mib": round(rss_mib(pid), 1),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000, help="copies of the seed's objects")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--source", type=Path, default=ROOT, help="the tree whose emulator runs")
    args = parser.parse_args()
    print(json.dumps(await measure(args.source, args.objects, args.seconds, args.concurrency)))


if __name__ == "__main__":
    asyncio.run(main())
