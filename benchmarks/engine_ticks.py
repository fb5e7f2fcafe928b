"""How long the engine takes for the seed's whole release on simulated time (no I/O).

Run: .venv/bin/python -m benchmarks.engine_ticks [--runs N]
Prints the mean wall time per release and per tick: the engine's own cost, without the
platform's (store, Envoy, Prometheus), which the local platform's figures include.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.engine.tick import advance

SEED = Path(__file__).parents[1] / "examples" / "seed" / "podinfo-canary.yaml"


async def release(document: dict[str, Any]) -> int:
    sim = simulated_world()
    sim.canaries.put(document)
    ticks = await _until(sim, "Initialized")
    sim.target.image = "stefanprodan/podinfo:3.1.1"
    return ticks + await _until(sim, "Succeeded")


async def _until(sim: SimulatedWorld, phase: str) -> int:
    ticks = 0
    while sim.canaries.status("test", "podinfo").get("phase") != phase:
        await advance(sim.world, "test", "podinfo")
        sim.clock.advance(60)
        ticks += 1
    return ticks


async def main(runs: int) -> None:
    document = yaml.safe_load(SEED.read_text())
    started = time.perf_counter()
    ticks = 0
    for _ in range(runs):
        ticks += await release(document)
    seconds = time.perf_counter() - started
    print(f"seed release on simulated time: {seconds / runs * 1000:.2f} ms per release")
    print(f"  {ticks // runs} ticks per release, {seconds / ticks * 1e6:.0f} µs per tick")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(main(parser.parse_args().runs))
