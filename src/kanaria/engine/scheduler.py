"""Runs the tick of every canary at its own analysis interval, as Flagger's per-canary jobs do.

The local control plane uses this directly; the Kubernetes operator gets the same cadence from
one kopf daemon per Canary. A canary's job ticks at once when it appears, then every
`analysis.interval` (on the world's clock, so a time scale shortens it); it restarts when the
interval changes and stops when the canary is gone. One canary's trouble never stops another's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kanaria.engine.ports import World
from kanaria.engine.tick import advance, look
from kanaria.errors import ConfigError, KanariaError

log = logging.getLogger(__name__)

CanaryKey = tuple[str, str]
ListCanaries = Callable[[], Awaitable[list[CanaryKey]]]
ReportInvalid = Callable[[CanaryKey, ConfigError], Awaitable[None]]


@dataclass
class _Job:
    task: asyncio.Task[None]
    interval: tuple[float, float]
    poke: asyncio.Event


class Scheduler:
    def __init__(
        self,
        world: World,
        list_canaries: ListCanaries,
        report_invalid: ReportInvalid | None = None,
        control_loop_seconds: float = 10.0,
    ) -> None:
        self.world = world
        self.list_canaries = list_canaries
        self.report_invalid = report_invalid
        self.control_loop_seconds = control_loop_seconds
        self._jobs: dict[CanaryKey, _Job] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for new or changed canaries now (e.g. after an apply)."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self.sync_jobs()
                self._wake.clear()
                await self._sleep(self.control_loop_seconds, self._wake)
        finally:
            await self.stop()

    async def _sleep(self, seconds: float, interrupt: asyncio.Event) -> None:
        """Wait `seconds` on the world's clock, or until `interrupt` is set."""
        sleep = asyncio.ensure_future(self.world.clock.sleep(seconds))
        woken = asyncio.ensure_future(interrupt.wait())
        try:
            await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            woken.cancel()

    async def stop(self) -> None:
        jobs = list(self._jobs.values())
        self._jobs.clear()
        for job in jobs:
            job.task.cancel()
        await asyncio.gather(*(job.task for job in jobs), return_exceptions=True)

    async def sync_jobs(self) -> None:
        keys = set(await self.list_canaries())
        for key in set(self._jobs) - keys:
            self._jobs.pop(key).task.cancel()
        for key in keys:
            interval, asked = await self._read(key)
            job = self._jobs.get(key)
            if job is None or job.interval != interval or job.task.done():
                if job is not None:
                    job.task.cancel()
                poke = asyncio.Event()
                job = _Job(asyncio.create_task(self._job(key, interval, poke)), interval, poke)
                self._jobs[key] = job
            if asked:
                job.poke.set()  # an action was requested: answer it now, not next interval

    async def _read(self, key: CanaryKey) -> tuple[tuple[float, float], bool]:
        """The canary's analysis interval and how often its judge looks (0: no judge), and
        whether an action waits for an answer."""
        try:
            canary = await self.world.canaries.get(*key)
        except ConfigError:
            return (0.0, 0.0), False
        if canary is None:
            return (0.0, 0.0), False
        judge = canary.spec.analysis.judge
        interval = (canary.spec.analysis.interval_seconds, judge.look_interval if judge else 0.0)
        return interval, canary.requested_action() is not None

    async def _job(
        self, key: CanaryKey, interval: tuple[float, float], poke: asyncio.Event
    ) -> None:
        tick_every, look_every = interval
        tick_every = tick_every or self.control_loop_seconds
        while True:
            poke.clear()
            await self.tick_once(key)
            waited = 0.0  # counted in the world's time, as the sleeps are
            while not poke.is_set() and waited < tick_every - 1e-9:
                step = min(look_every or tick_every, tick_every - waited)
                await self._sleep(step, poke)
                waited += step
                if look_every and not poke.is_set() and waited < tick_every - 1e-9:
                    await self._guarded(key, look(self.world, *key))

    async def tick_once(self, key: CanaryKey) -> None:
        await self._guarded(key, advance(self.world, *key))

    async def _guarded(self, key: CanaryKey, step: Awaitable[None]) -> None:
        try:
            await step
        except ConfigError as exc:
            log.warning("canary %s/%s is invalid: %s", *key, exc)
            if self.report_invalid is not None:
                await self.report_invalid(key, exc)
        except KanariaError as exc:
            log.info("canary %s/%s: will retry next tick: %s", *key, exc)
        except Exception:
            # A bug in one canary's tick must not stop the others; it is logged in full.
            log.exception("canary %s/%s: unexpected error in tick", *key)
