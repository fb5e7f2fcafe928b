"""The scheduler: every canary ticks at its own interval; one bad canary does not stop others."""

from __future__ import annotations

import asyncio
import copy

from kanaria.clock import SystemClock
from kanaria.engine.scheduler import CanaryKey, Scheduler
from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.errors import ConfigError
from kanaria.spec.canary import ACTION_ANNOTATION, ACTION_ID_ANNOTATION
from tests.unit.engine.conftest import seed_canary


async def run_until(scheduler: Scheduler, done: object, limit: int = 2000) -> None:
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(limit):
            if callable(done) and done():
                return
            await asyncio.sleep(0)
        raise AssertionError("scheduler did not get there")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_each_canary_is_released_by_its_job(sim: SimulatedWorld) -> None:
    first = seed_canary()
    second = copy.deepcopy(first)
    second["metadata"]["name"] = "backend"
    sim.canaries.put(first)
    sim.canaries.put(second)

    async def canaries() -> list[CanaryKey]:
        return list(sim.canaries.documents)

    scheduler = Scheduler(sim.world, canaries)

    def both_initialized() -> bool:
        phases = [sim.canaries.status(ns, name).get("phase") for ns, name in sim.canaries.documents]
        return phases == ["Initialized", "Initialized"]

    await run_until(scheduler, both_initialized)
    assert sim.events.messages.count("Initialization done! podinfo.test") == 1
    assert sim.events.messages.count("Initialization done! backend.test") == 1


async def test_an_invalid_canary_is_reported_and_the_others_go_on(sim: SimulatedWorld) -> None:
    good = seed_canary()
    sim.canaries.put(good)
    reported: list[tuple[CanaryKey, str]] = []
    real_get = sim.canaries.get

    async def get(namespace: str, name: str):  # type: ignore[no-untyped-def]
        if name == "broken":
            raise ConfigError("invalid Canary: spec.analysis: no strategy")
        return await real_get(namespace, name)

    sim.canaries.get = get  # type: ignore[method-assign]

    async def canaries() -> list[CanaryKey]:
        return [("test", "broken"), ("test", "podinfo")]

    async def report(key: CanaryKey, error: ConfigError) -> None:
        reported.append((key, str(error)))

    scheduler = Scheduler(sim.world, canaries, report_invalid=report)
    await run_until(
        scheduler, lambda: sim.canaries.status("test", "podinfo").get("phase") == "Initialized"
    )
    assert reported[0] == (("test", "broken"), "invalid Canary: spec.analysis: no strategy")


async def test_a_requested_action_is_answered_without_waiting_for_the_interval() -> None:
    sim = simulated_world(clock=None)
    sim.world.clock = SystemClock(time_scale=1.0)  # a 60 s interval: the test must not wait it
    sim.canaries.put(seed_canary())

    async def canaries() -> list[CanaryKey]:
        return list(sim.canaries.documents)

    scheduler = Scheduler(sim.world, canaries, control_loop_seconds=60.0)
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(200):
            if sim.canaries.status("test", "podinfo").get("phase") == "Initializing":
                break
            await asyncio.sleep(0.01)
        document = sim.canaries.documents[("test", "podinfo")]
        document["metadata"]["annotations"] = {
            ACTION_ANNOTATION: "pause",
            ACTION_ID_ANNOTATION: "now",
        }
        scheduler.wake()
        for _ in range(200):
            if sim.canaries.status("test", "podinfo").get("action"):
                break
            await asyncio.sleep(0.01)
        assert sim.canaries.status("test", "podinfo")["action"]["id"] == "now"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
