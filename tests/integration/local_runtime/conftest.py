"""Real replicas on loopback: a workload runtime over an in-memory store, started per test.

Replicas get pod IPs from a random 127.N.3.0/24 block so these tests do not collide with other
suites on the same machine. Whatever happens in a test, every replica it started is stopped:
first gracefully by the runtime, then by pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from kanaria.clock import SystemClock
from kanaria.platforms.local.deployments import WorkloadRuntime
from kanaria.platforms.local.network import ReplicaTable
from kanaria.platforms.local.processes import ReplicaState
from kanaria.platforms.local.state import StateDir, recorded_processes, terminate
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import DEPLOYMENT, Object

WAIT_SECONDS = 20.0


class ListeningObjects(MemoryObjects):
    """The in-memory store, telling listeners of each write as the SQLite store's feed does."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    def _notify(self) -> None:
        super()._notify()
        for listener in self.listeners:
            listener()


class RandomBlockAddresses:
    """Pod IPs from one random /24 of loopback, lowest free first."""

    def __init__(self) -> None:
        self.prefix = f"127.{random.randint(64, 250)}.3"
        self.owners: dict[str, str] = {}

    def take(self, owner: str, wanted: str | None = None) -> str:
        for address, holder in self.owners.items():
            if holder == owner:
                return address
        if wanted and wanted.startswith(f"{self.prefix}.") and wanted not in self.owners:
            self.owners[wanted] = owner
            return wanted
        address = next(
            f"{self.prefix}.{n}" for n in range(1, 255) if f"{self.prefix}.{n}" not in self.owners
        )
        self.owners[address] = owner
        return address

    def release(self, address: str) -> None:
        self.owners.pop(address, None)


@dataclass
class Platform:
    """One running workload runtime and the helpers a test needs to watch it."""

    objects: ListeningObjects
    state: StateDir
    runtime: WorkloadRuntime
    session: aiohttp.ClientSession
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def replicas(self, workload: str = "podinfo") -> list[ReplicaState]:
        return self.runtime.supervisor.replicas("test", workload)

    async def status(self, name: str = "podinfo") -> dict[str, Any]:
        stored = await self.objects.get(DEPLOYMENT, "test", name)
        assert stored is not None
        return dict(stored.get("status") or {})

    async def deployment(self, name: str = "podinfo") -> Object:
        stored = await self.objects.get(DEPLOYMENT, "test", name)
        assert stored is not None
        return stored

    async def until(
        self, check: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT_SECONDS
    ) -> float:
        """Poll `check` every 20 ms; the seconds it took. Fails the test with `what` and the
        replicas' logs when it does not come true in time."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if await check():
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"not within {seconds}s: {what}\n{self.logs()}")

    async def available(self, count: int, name: str = "podinfo") -> float:
        async def check() -> bool:
            status = await self.status(name)
            generation = (await self.deployment(name))["metadata"]["generation"]
            return bool(
                status.get("availableReplicas", 0) == count
                and status.get("updatedReplicas", 0) == count
                and status.get("replicas", 0) == count
                and status.get("observedGeneration") == generation
            )

        return await self.until(check, f"{count} available replicas of {name}")

    async def info(self, replica: ReplicaState) -> dict[str, Any]:
        async with self.session.get(f"http://{replica.ip}:9898/") as response:
            assert response.status == 200
            return dict(await response.json())

    def logs(self) -> str:
        folder = self.state.logs / "replicas" / "test"
        files = sorted(folder.glob("*.log")) if folder.is_dir() else []
        return "\n".join(f"--- {path.name}\n{path.read_text()[-2000:]}" for path in files)

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.task, 5)


Starter = Callable[..., Awaitable[Platform]]


@pytest_asyncio.fixture
async def start_platform(tmp_path: Path) -> AsyncIterator[Starter]:
    """`await start_platform(time_scale=10)` starts a runtime; `state=` reuses a state dir,
    `objects=` a store (a control plane restart)."""
    started: list[Platform] = []
    addresses = RandomBlockAddresses()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def start(
        time_scale: float = 10.0,
        state: StateDir | None = None,
        objects: ListeningObjects | None = None,
    ) -> Platform:
        state = state or StateDir.at(tmp_path / "state")
        state.create()
        objects = objects or ListeningObjects()
        runtime = WorkloadRuntime(
            objects,
            state,
            SystemClock(time_scale),
            table=ReplicaTable(),
            addresses=addresses,
            listen=objects.listen,
        )
        platform = Platform(objects, state, runtime, session)
        platform.task = asyncio.create_task(runtime.run(platform.stop))
        started.append(platform)
        return platform

    try:
        yield start
    finally:
        for platform in started:
            await platform.close()
        for platform in started:
            await platform.runtime.stop_replicas(within=5)
        await session.close()
        leftovers = [
            r.pid for r in recorded_processes(StateDir.at(tmp_path / "state")) if r.alive()
        ]
        terminate(leftovers, grace=1.0)
