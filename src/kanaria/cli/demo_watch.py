"""What the demo measures while a release runs: user traffic and the weights Envoy applies.

`UserTraffic` plays the users: a bounded stream of requests through the gateway, counted by the
version that answered, so the summary can say how many requests each version served and when
the first failed request came. `EnvoyWeights` reads the routes Envoy is really serving from its
admin API, so the demo shows (and checks) the weights in force, not just what was asked for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from kanaria.errors import TemporaryError
from kanaria.platforms.local.binaries import http_get
from kanaria.platforms.local.mesh import ClusterKey

REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass
class TrafficTally:
    by_version: Counter[str] = field(default_factory=Counter)
    failed_by_version: Counter[str] = field(default_factory=Counter)
    first_failure: float | None = None  # time.monotonic() of the first 5xx answer

    @property
    def total(self) -> int:
        return sum(self.by_version.values())


class UserTraffic:
    """`rate` requests per second through the gateway until stopped (or `limit` seconds)."""

    def __init__(self, url: str, rate: float = 20.0, workers: int = 4, limit: float = 900.0):
        self.url = url
        self.rate = rate
        self.workers = workers
        self.limit = limit
        self.tally = TrafficTally()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._worker(session) for _ in range(self.workers)))

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        pause = self.workers / self.rate
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            await self._one(session)
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
            except TimeoutError:
                continue

    async def _one(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.url, headers={"Host": "podinfo"}) as response:
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            self._count("unreachable", failed=True)
            return
        self._count(_version_of(body, response.headers), failed=status >= 500)

    def _count(self, version: str, failed: bool) -> None:
        self.tally.by_version[version] += 1
        if failed:
            self.tally.failed_by_version[version] += 1
            if self.tally.first_failure is None:
                self.tally.first_failure = time.monotonic()


def _version_of(body: str, headers: Any) -> str:
    version = headers.get("X-Podinfo-Version")
    if version:
        return str(version)
    try:
        return str(json.loads(body).get("version", "unknown"))
    except (ValueError, AttributeError):
        return "unknown"


@dataclass
class WeightSample:
    at: float
    canary_weight: int


class EnvoyWeights:
    """Samples the canary's share of the gateway's routes, as Envoy serves them."""

    def __init__(self, admin_url: str, service: str = "podinfo", every: float = 0.2) -> None:
        self.admin = admin_url.removeprefix("http://").rstrip("/")
        self.service = service
        self.every = every
        self.samples: list[WeightSample] = []
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def current(self) -> int | None:
        return self.samples[-1].canary_weight if self.samples else None

    def steps(self) -> list[int]:
        """The distinct weights seen, in order."""
        seen: list[int] = []
        for sample in self.samples:
            if not seen or seen[-1] != sample.canary_weight:
                seen.append(sample.canary_weight)
        return seen

    def first_time_at(self, weight: int, after: float) -> float | None:
        return next(
            (s.at for s in self.samples if s.at >= after and s.canary_weight == weight), None
        )

    async def run(self) -> None:
        while not self._stop.is_set():
            weight = await self.read()
            if weight is not None:
                self.samples.append(WeightSample(time.monotonic(), weight))
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.every)
            except TimeoutError:
                continue

    async def read(self) -> int | None:
        try:
            status, body = await http_get(self.admin, "/config_dump?resource=dynamic_route_configs")
        except TemporaryError:
            return None  # Envoy is restarting or busy: the next sample will tell
        if status != 200:
            return None
        for config in json.loads(body).get("configs", []):
            weight = self._canary_share(config.get("route_config") or {})
            if weight is not None:
                return weight
        return None

    def _canary_share(self, route_config: dict[str, Any]) -> int | None:
        for host in route_config.get("virtual_hosts") or []:
            for route in host.get("routes") or []:
                clusters = ((route.get("route") or {}).get("weighted_clusters") or {}).get(
                    "clusters"
                )
                weights = self._by_service(clusters or [])
                if {f"{self.service}-primary", f"{self.service}-canary"} <= weights.keys():
                    total = sum(weights.values())
                    return round(100 * weights[f"{self.service}-canary"] / total) if total else None
        return None

    @staticmethod
    def _by_service(clusters: list[dict[str, Any]]) -> dict[str, int]:
        weights: Counter[str] = Counter()
        for cluster in clusters:
            try:
                key = ClusterKey.parse(str(cluster.get("name", "")))
            except ValueError:
                continue
            weights[key.service] += int(cluster.get("weight") or 0)
        return dict(weights)
