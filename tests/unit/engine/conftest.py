"""The seed Canary in a simulated world, and a way to run ticks on simulated time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.engine.tick import advance

SEED = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def seed_canary() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SEED.read_text())
    return document


class Rollout:
    """Drives one canary tick by tick, one analysis interval apart."""

    def __init__(self, sim: SimulatedWorld, document: dict[str, Any]) -> None:
        self.sim = sim
        self.canary = sim.canaries.put(document)

    async def tick(self, count: int = 1) -> None:
        for _ in range(count):
            await advance(self.sim.world, self.canary.namespace, self.canary.name)
            self.sim.clock.advance(self.canary.spec.analysis.interval_seconds)

    async def until(self, predicate: Callable[[], bool], limit: int = 50) -> int:
        """Tick until `predicate` holds; returns the number of ticks it took."""
        for count in range(1, limit + 1):
            await self.tick()
            if predicate():
                return count
        raise AssertionError(f"not reached after {limit} ticks; events: {self.messages}")

    async def initialized(self) -> None:
        await self.until(lambda: self.phase == "Initialized")

    def set_image(self, image: str) -> None:
        self.sim.target.image = image

    @property
    def status(self) -> dict[str, Any]:
        return self.sim.canaries.status(self.canary.namespace, self.canary.name)

    @property
    def phase(self) -> str:
        return str(self.status.get("phase", ""))

    @property
    def messages(self) -> list[str]:
        return self.sim.events.messages

    @property
    def canary_weights(self) -> list[int]:
        return [routes.canary_weight for routes in self.sim.router.history]


@pytest.fixture
def sim() -> SimulatedWorld:
    return simulated_world()


@pytest.fixture
def make_rollout(sim: SimulatedWorld) -> Callable[..., Rollout]:
    def make(document: dict[str, Any] | None = None, **analysis: Any) -> Rollout:
        document = copy.deepcopy(document or seed_canary())
        document["spec"]["analysis"].update(analysis)
        return Rollout(sim, document)

    return make
