"""Injected faults: random delays and random 500s, the way a bad canary misbehaves.

A canary test needs a version that fails its analysis on purpose; podinfo's `--random-error` and
`--random-delay` are how the scenario makes one. The decisions come from one seeded generator so
a test can predict them, and they spare the probes, `/metrics` and the endpoints whose answer is
already chosen by the caller (`/status/{code}`, `/delay/{seconds}`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kanaria.apps.podinfo.config import Settings

# Paths that must keep answering truthfully, or probes and scrapes would flap with the faults.
SPARED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/version", "/status/", "/delay/")


@dataclass(frozen=True)
class Fault:
    """What to do to one request: wait `delay` seconds, then fail with 500 or not."""

    delay: float = 0.0
    fail: bool = False


class FaultInjector:
    """Draws a `Fault` per request from a seeded generator."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random(settings.seed)

    @property
    def active(self) -> bool:
        return self._settings.random_delay or self._settings.random_error

    def draw(self, path: str) -> Fault:
        if not self.active or path.startswith(SPARED_PREFIXES):
            return Fault()
        return Fault(delay=self._draw_delay(), fail=self._draw_error())

    def _draw_delay(self) -> float:
        if not self._settings.random_delay:
            return 0.0
        return self._rng.uniform(self._settings.random_delay_min, self._settings.random_delay_max)

    def _draw_error(self) -> bool:
        if not self._settings.random_error:
            return False
        return self._rng.random() < self._settings.random_error_rate
