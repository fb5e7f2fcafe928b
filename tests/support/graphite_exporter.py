"""Copy the platform's request counters from Prometheus into Graphite, the way a statsd-style
collector feeds Graphite: per-second counts.

Every quarter second it reads `istio_requests_total` (reporter="destination") summed by
namespace, workload and response code from the platform's real Prometheus, turns the counter's
increase into a count for the current second, and sends each finished second to carbon's
plaintext receiver as `istio.<namespace>.<workload>.requests.<code> <count> <second>`. Graphite
then holds the same traffic Prometheus saw, and a Graphite MetricTemplate can judge it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

import aiohttp

from tests.support.graphite_server import GraphiteServer

QUERY = (
    "sum by (destination_workload_namespace, destination_workload, response_code) "
    '(istio_requests_total{reporter="destination"})'
)
SeriesKey = tuple[str, str, str]


class PrometheusToGraphite:
    def __init__(self, prometheus_url: str, graphite: GraphiteServer, every: float = 0.25) -> None:
        self.prometheus_url = prometheus_url
        self.graphite = graphite
        self.every = every
        self.sent = 0  # points sent, for tests to see it worked
        self._last: dict[SeriesKey, float] = {}
        self._pending: defaultdict[int, defaultdict[SeriesKey, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while not self._stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    self._count(await self._counters(session), int(time.time()))
                await self._flush(int(time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.every)
            await self._flush(int(time.time()) + 1)

    async def _counters(self, session: aiohttp.ClientSession) -> dict[SeriesKey, float]:
        url = f"{self.prometheus_url}/api/v1/query"
        async with session.get(url, params={"query": QUERY}) as answer:
            body = await answer.json()
        return {
            (
                sample["metric"].get("destination_workload_namespace", "unknown"),
                sample["metric"].get("destination_workload", "unknown"),
                sample["metric"].get("response_code", "0"),
            ): float(sample["value"][1])
            for sample in body["data"]["result"]
        }

    def _count(self, counters: dict[SeriesKey, float], second: int) -> None:
        for key, value in counters.items():
            previous = self._last.get(key)
            self._last[key] = value
            if previous is None:
                continue  # the first reading only sets the baseline
            increase = value - previous if value >= previous else value  # a reset
            self._pending[second][key] += increase

    async def _flush(self, current_second: int) -> None:
        """Send every second that is over, once (carbon keeps the last write per second)."""
        done = sorted(second for second in self._pending if second < current_second)
        lines = [
            f"istio.{namespace}.{workload}.requests.{code} {count:g} {second}"
            for second in done
            for (namespace, workload, code), count in self._pending.pop(second).items()
        ]
        if lines:
            await asyncio.to_thread(self.graphite.send_lines, lines)
            self.sent += len(lines)
