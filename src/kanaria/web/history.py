"""Weights and check values over time, kept in memory while the dashboard runs.

The status only holds the present (this weight, each check's last value), so the dashboard
samples the store and remembers what changed: a weight point whenever the weight moves, a check
point whenever a new measurement appears. The part of a release that happened before the
dashboard started is filled in from the Events (see `summary.weights_from_events`). Memory is
bounded: a fixed number of points per series, and canaries that disappear are forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kanaria.spec.canary import Canary

DEFAULT_LIMIT = 720  # twelve minutes at one sample a second, a long release at one per minute
Key = tuple[str, str]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Track:
    """The history of one canary."""

    limit: int
    weight: deque[tuple[str, int]] = field(init=False)
    checks: dict[str, deque[tuple[str, float | None, str]]] = field(default_factory=dict)
    seeded: bool = False

    def __post_init__(self) -> None:
        self.weight = deque(maxlen=self.limit)

    def add_weight(self, moment: datetime, weight: int) -> None:
        if not self.weight or self.weight[-1][1] != weight:
            self.weight.append((stamp(moment), weight))

    def add_check(self, name: str, time: str, value: float | None, verdict: str) -> None:
        series = self.checks.setdefault(name, deque(maxlen=self.limit))
        point = (time, value, verdict)
        if not series or series[-1] != point:
            series.append(point)


class History:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._tracks: dict[Key, Track] = {}

    def seed(self, key: Key, weights: list[tuple[datetime, int]]) -> None:
        """Weights known from before the first sample; only once per canary."""
        track = self._track(key)
        if track.seeded:
            return
        track.seeded = True
        if track.weight:
            return  # sampling already started: the events add nothing newer
        for moment, weight in weights:
            track.add_weight(moment, weight)

    def needs_seed(self, key: Key) -> bool:
        return not self._track(key).seeded

    def observe(self, canary: Canary, now: datetime) -> None:
        track = self._track((canary.namespace, canary.name))
        track.add_weight(now, canary.status.canary_weight)
        for check in canary.status.checks:
            track.add_check(check.name, check.time or stamp(now), check.value, check.verdict)

    def forget_others(self, present: set[Key]) -> None:
        for key in set(self._tracks) - present:
            del self._tracks[key]

    def series(self, key: Key) -> dict[str, Any]:
        """JSON for the charts: `weight` as [time, weight], `checks` as name → [time, value,
        verdict]."""
        track = self._tracks.get(key)
        if track is None:
            return {"weight": [], "checks": {}}
        return {
            "weight": [list(point) for point in track.weight],
            "checks": {name: [list(p) for p in points] for name, points in track.checks.items()},
        }

    def _track(self, key: Key) -> Track:
        if key not in self._tracks:
            self._tracks[key] = Track(self.limit)
        return self._tracks[key]
