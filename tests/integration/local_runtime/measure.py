"""Figures of the workload runtime on this machine, with real podinfo replicas on loopback.

Run: `.venv/bin/python -m tests.integration.local_runtime.measure` (about a minute). Prints the
time from a stored Deployment to a ready replica, each replica's memory, how long a scale to
zero takes, the autoscaler's reaction to load, and what the runtime itself costs in CPU.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kanaria.clock import SystemClock
from kanaria.platforms.local.binaries import hey_path
from kanaria.platforms.local.deployments import WorkloadRuntime
from kanaria.platforms.local.processes import session_usage
from kanaria.platforms.local.state import StateDir
from kanaria.spec.objects import DEPLOYMENT, HPA, Object
from tests.integration.local_runtime.conftest import ListeningObjects, RandomBlockAddresses
from tests.unit.local_runtime.fakes import podinfo_deployment


class Bench:
    def __init__(self, folder: Path, time_scale: float) -> None:
        self.state = StateDir.at(folder / f"scale-{time_scale:g}")
        self.state.create()
        self.objects = ListeningObjects()
        self.runtime = WorkloadRuntime(
            self.objects,
            self.state,
            SystemClock(time_scale),
            addresses=RandomBlockAddresses(),
            listen=self.objects.listen,
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.runtime.run(self.stop))

    async def until(self, check: Callable[[], Awaitable[bool]], seconds: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if await check():
                return time.monotonic() - started
            await asyncio.sleep(0.005)
        raise TimeoutError("condition not met")

    async def replicas_wanted(self) -> int:
        stored = await self.objects.get(DEPLOYMENT, "test", "podinfo")
        assert stored is not None
        return int(stored["spec"]["replicas"])

    async def ready_count(self) -> int:
        return sum(r.ready for r in self.runtime.supervisor.replicas("test", "podinfo"))

    async def scale(self, replicas: int) -> None:
        await self.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": replicas}})

    async def close(self) -> None:
        self.stop.set()
        await self.task
        await self.runtime.stop_replicas(within=5)


def fast_probes(deployment: Object) -> Object:
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe.update(initialDelaySeconds=0, periodSeconds=1)
    return deployment


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


async def start_to_ready(folder: Path) -> None:
    bench = Bench(folder, time_scale=100)  # probes every 10 ms: the app's own start dominates
    await bench.objects.create(fast_probes(podinfo_deployment(replicas=0)))
    singles, own = [], []
    for _ in range(5):
        await bench.scale(1)
        singles.append(await bench.until(lambda: _equals(bench.ready_count, 1)))
        [replica] = bench.runtime.supervisor.replicas("test", "podinfo")
        assert replica.ready_since is not None
        assert replica.started_at is not None
        own.append((replica.ready_since - replica.started_at).total_seconds())
        await bench.scale(0)
        await bench.until(lambda: _empty(bench))
    print(f"stored → 1 replica ready: median {statistics.median(singles):.2f}s "
          f"(process start → ready {statistics.median(own):.2f}s), 5 runs")  # fmt: skip
    await bench.scale(4)
    four = await bench.until(lambda: _equals(bench.ready_count, 4))
    print(f"stored → 4 replicas ready at once: {four:.2f}s on {_cpus()} CPUs")
    await asyncio.sleep(1)
    usage = session_usage()
    replicas = bench.runtime.supervisor.replicas("test", "podinfo")
    rss = [usage[r.pid].rss_bytes / 2**20 for r in replicas if r.pid]
    pss = [pss_kib(r.pid) / 1024 for r in replicas if r.pid]
    print(f"memory per idle podinfo replica: RSS {statistics.mean(rss):.1f} MiB, "
          f"PSS {statistics.mean(pss):.1f} MiB")  # fmt: skip
    await bench.scale(0)
    gone = await bench.until(lambda: _empty(bench))
    print(f"scale 4 → 0 until every process exited: {gone:.2f}s")
    await bench.close()


async def runtime_cpu(folder: Path, time_scale: float) -> None:
    bench = Bench(folder, time_scale)
    await bench.objects.create(podinfo_deployment(replicas=4, probe_period=10))
    await bench.objects.create(_hpa(minimum=4, maximum=4))
    await bench.until(lambda: _equals(bench.ready_count, 4))
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    await asyncio.sleep(10)
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    share = 100 * used / (time.monotonic() - started)
    print(f"runtime's own CPU with 4 ready replicas (readiness every 10 s) and an HPA, "
          f"time scale {time_scale:g}: "
          f"{share:.1f} % of a core")  # fmt: skip
    await bench.close()


async def autoscaler_reaction(folder: Path, time_scale: float, runs: int) -> None:
    reactions = []
    for run in range(runs):
        phase = (run + 0.5) / runs  # spread the starts over one period
        reactions.append(await _reaction(folder / f"hpa-{run}", time_scale, phase))
    print(f"autoscaler, load → spec.replicas raised, time scale {time_scale:g} (sync period "
          f"{15 / time_scale:g}s): " + ", ".join(f"{r:.2f}s" for r in reactions))  # fmt: skip


async def _reaction(folder: Path, time_scale: float, phase: float) -> float:
    """Seconds from the start of a load to the HPA raising spec.replicas."""
    bench = Bench(folder, time_scale)
    await bench.objects.create(podinfo_deployment(replicas=1, cpu="20m", probe_period=10))
    await bench.objects.create(_hpa(minimum=1, maximum=3))
    await bench.until(lambda: _equals(bench.ready_count, 1))
    await bench.until(lambda: _metrics_flow(bench))  # the steady state: samples exist
    await asyncio.sleep(phase * 15 / time_scale)  # vary the start against the period
    [target] = bench.runtime.supervisor.replicas("test", "podinfo")
    load = await asyncio.create_subprocess_exec(
        str(hey_path()), "-z", "60s", "-c", "4", f"http://{target.ip}:9898/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return await bench.until(lambda: _above(bench.replicas_wanted, 1))
    finally:
        load.kill()
        await load.wait()
        await bench.close()


def _hpa(minimum: int, maximum: int) -> Object:
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
    return HPA.new("test", "podinfo", spec={
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "minReplicas": minimum, "maxReplicas": maximum,
        "metrics": [{"type": "Resource", "resource": cpu}],
    })  # fmt: skip


async def _metrics_flow(bench: Bench) -> bool:
    hpa = await bench.objects.get(HPA, "test", "podinfo")
    conditions = ((hpa or {}).get("status") or {}).get("conditions") or []
    return any(c.get("reason") == "ValidMetricFound" for c in conditions)


async def _equals(count: Callable[[], Awaitable[int]], wanted: int) -> bool:
    return await count() == wanted


async def _above(count: Callable[[], Awaitable[int]], floor: int) -> bool:
    return await count() > floor


async def _empty(bench: Bench) -> bool:
    return not bench.runtime.supervisor.replicas("test", "podinfo")


def _cpus() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 1


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await start_to_ready(Path(folder))
        await runtime_cpu(Path(folder) / "cpu1", time_scale=1)
        await runtime_cpu(Path(folder) / "cpu30", time_scale=30)
        await autoscaler_reaction(Path(folder) / "r30", time_scale=30, runs=3)
        await autoscaler_reaction(Path(folder) / "r1", time_scale=1, runs=3)


if __name__ == "__main__":
    asyncio.run(main())
