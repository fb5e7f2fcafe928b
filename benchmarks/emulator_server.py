"""The Kubernetes API emulator as a process of its own, for benchmarks.

A benchmark that runs the emulator in its own process cannot tell the emulator's CPU from its
own; here it gets a pid to read `/proc/PID/stat` from. Writes a kubeconfig, prints the URL on
one line when ready, and serves until SIGTERM or SIGINT.

    .venv/bin/python -m benchmarks.emulator_server --kubeconfig /tmp/kubeconfig
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from tests.support.k8s.fixtures import emulated_cluster


async def serve(kubeconfig: Path, rollout_delay: float | None, history: int | None) -> None:
    async with emulated_cluster(kubeconfig) as cluster:
        if history is not None and hasattr(cluster.emulator, "history_limit"):
            cluster.emulator.history_limit = history
        if rollout_delay is not None:
            cluster.emulator.deployment_controller(rollout_delay=rollout_delay)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        print(cluster.url, flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument(
        "--rollout-delay", type=float, default=None, help="run the Deployment controller"
    )
    parser.add_argument("--history", type=int, default=None, help="versions kept per object")
    args = parser.parse_args()
    asyncio.run(serve(args.kubeconfig, args.rollout_delay, args.history))


if __name__ == "__main__":
    main()
