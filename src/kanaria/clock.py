"""The one clock every wait and every timestamp goes through.

The engine and the platforms take a `Clock`, so tests can run a whole rollout on simulated time
and the local platform can shorten every interval by one time scale.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A rollout of real processes takes real time: however compressed the clock, a progress deadline
# is never shorter than this (the engine and the local Deployment controller must agree on it).
ROLLOUT_DEADLINE_FLOOR_SECONDS = 30.0


class Clock(Protocol):
    """Wall time as seen by the controller, and a way to wait on it."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def scaled(self, seconds: float, floor: float = 0.0) -> float:
        """How long `seconds` of the controller's time last on this clock's wall.

        `floor` keeps durations that real programs need (a process starting, a rollout) from
        shrinking below it — never above `seconds` itself.
        """
        ...


class SystemClock:
    """Real time, optionally compressed: with `time_scale=60` a 1-minute wait lasts one second.

    `now()` is real wall time; only waits are scaled. Durations that the engine hands to other
    programs (metric windows, `hey -z`) are scaled by the platform with `scaled()`.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)

    def scaled(self, seconds: float, floor: float = 0.0) -> float:
        return max(seconds / self.time_scale, min(seconds, floor))

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """Time that only moves when told to: `sleep` advances it instantly."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real wait would

    def scaled(self, seconds: float, floor: float = 0.0) -> float:
        return seconds

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(0.0, seconds))
