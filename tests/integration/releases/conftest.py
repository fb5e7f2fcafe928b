"""One local platform for a module of release tests: the seed applied, the Canary initialized.

The releases follow each other on the same platform (each sets a new image), as a user's would.
Users are played through the gateway all along, and Envoy's weights are sampled, so each test
can check what users and the data plane really saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kanaria.cli import local
from kanaria.cli.demo_watch import EnvoyWeights, UserTraffic
from kanaria.cli.kubectl import read_manifests, set_images
from kanaria.errors import TemporaryError
from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.client import ApiClient
from kanaria.platforms.local.state import ControlPlaneConfig, StateDir
from kanaria.spec.objects import CANARY, DEPLOYMENT, EVENT
from tests.integration.local.conftest import leftovers

SEED = Path(__file__).parents[3] / "examples" / "seed"
TIME_SCALE = 20.0
INTERVAL = 60.0 / TIME_SCALE  # the seed's analysis interval, as the platform runs it


@dataclass
class Platform:
    state: StateDir
    config: ControlPlaneConfig
    urls: dict[str, str]

    def client(self) -> ApiClient:
        return ApiClient.for_state(self.state)

    def restart(self) -> None:
        self.urls = local.start_in_background(self.state, self.config)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = StateDir.at(tmp_path_factory.mktemp("releases"))
    config = ControlPlaneConfig(TIME_SCALE, free_port(), 0)
    urls = local.start_in_background(state, config)
    try:
        platform = Platform(state, config, urls)
        asyncio.run(_seed(platform))
        yield platform
    finally:
        local.stop_platform(state)
        assert leftovers(state) == []


async def _seed(platform: Platform) -> None:
    async with platform.client() as client:
        await client.apply(read_manifests([str(SEED)], None))
        await until(lambda: phase_is(client, "Initialized"), within=120)


async def phase_is(client: ApiClient, *phases: str) -> bool:
    canary = await client.get(CANARY, "test", "podinfo")
    return bool(canary) and (canary or {}).get("status", {}).get("phase") in phases


async def until(check: Callable[[], Any], within: float, every: float = 0.2) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"not reached within {within:g} s")


async def set_image(client: ApiClient, image: str) -> None:
    deployment = await client.get(DEPLOYMENT, "test", "podinfo")
    assert deployment is not None
    set_images(deployment, {"podinfod": image})
    await client.replace(deployment)


class EventLog:
    """Every event as it is recorded: folded Events keep only their last message, so the
    sequence is read while it happens (each new count of an Event is one more occurrence)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.seen: list[tuple[str, str]] = []  # (type, message)
        self._counts: dict[str, int] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def normal(self) -> list[str]:
        return [message for kind, message in self.seen if kind == "Normal"]

    async def run(self) -> None:
        async with self.platform.client() as client:
            await self._poll(client)
            self.seen.clear()  # what happened before the block is not this block's
            while not self._stop.is_set():
                await self._poll(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=0.1)
            await self._poll(client)

    async def _poll(self, client: ApiClient) -> None:
        try:
            events = await client.list(EVENT, "test")
        except TemporaryError:
            return  # the control plane is down (a test killed it): nothing new to read
        # the store's resourceVersion orders writes exactly; timestamps have whole seconds
        events.sort(key=lambda event: int(event["metadata"]["resourceVersion"]))
        prefix = "(combined from similar events): "
        for event in events:
            if (event.get("involvedObject") or {}).get("name") != "podinfo":
                continue
            name, count = event["metadata"]["name"], int(event.get("count") or 1)
            if self._counts.get(name, 0) < count:
                self._counts[name] = count
                message = str(event["message"]).removeprefix(prefix)
                self.seen.append((str(event.get("type")), message))


@dataclass
class Observed:
    traffic: UserTraffic
    weights: EnvoyWeights
    events: EventLog


@contextlib.asynccontextmanager
async def observed(platform: Platform) -> AsyncIterator[Observed]:
    """Users through the gateway, Envoy's weights and the events, while the block runs."""
    seen = Observed(
        UserTraffic(f"{platform.urls['gateway']}/", rate=20.0),
        EnvoyWeights(platform.urls["envoyAdmin"], every=0.1),
        EventLog(platform),
    )
    parts = (seen.traffic, seen.weights, seen.events)
    tasks = [asyncio.ensure_future(part.run()) for part in parts]
    try:
        yield seen
    finally:
        for part in parts:
            part.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
