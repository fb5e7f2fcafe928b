"""Flagger's threshold semantics for one measured value (reference/flagger.md §3.2).

`thresholdRange` bounds are inclusive; without a range, the deprecated `threshold` is a minimum
for the success rate and a maximum for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanaria.spec.canary import Metric

SUCCESS_RATE = "request-success-rate"
DURATION = "request-duration"


@dataclass(frozen=True)
class Bounds:
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " and ".join(parts) or "any value"


@dataclass(frozen=True)
class Judgement:
    passed: bool
    bound: float | None = None
    below: bool = False  # True when the value failed a minimum, False for a maximum


def bounds_of(metric: Metric) -> Bounds:
    if metric.threshold_range is not None:
        return Bounds(metric.threshold_range.min, metric.threshold_range.max)
    if metric.threshold is None:
        return Bounds()
    if metric.name == SUCCESS_RATE:
        return Bounds(min=metric.threshold)
    return Bounds(max=metric.threshold)


def judge(metric: Metric, value: float) -> Judgement:
    bounds = bounds_of(metric)
    if bounds.min is not None and value < bounds.min:
        return Judgement(False, bounds.min, below=True)
    if bounds.max is not None and value > bounds.max:
        return Judgement(False, bounds.max, below=False)
    return Judgement(True)


def unit_of(metric: Metric) -> str:
    return {SUCCESS_RATE: "%", DURATION: "ms"}.get(metric.name, "")
