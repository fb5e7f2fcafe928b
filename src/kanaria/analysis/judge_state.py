"""What the sequential judge must remember between looks, and its flat form for the status.

The engine keeps this in the Canary's status so that an analysis survives a controller restart.
Its size does not grow with the analysis: per metric, one running log-evidence per alternative of
each test (see `evidence.py`), the event totals, and whether each test has crossed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kanaria.analysis.counts import Counts
from kanaria.analysis.evidence import FAIL_TILTS, PASS_TILTS
from kanaria.errors import ConfigError

FlatState = dict[str, int | float | bool | list[float]]


@dataclass(frozen=True)
class MetricState:
    """Running evidence and crossings of one metric (errors, or requests over the latency bound)."""

    # Per tilt of FAIL_TILTS: the log e-value of "worse" so far; per tilt of PASS_TILTS, twice
    # (against the relative side of the promotion tolerance, then its floor): of "not worse".
    worse_wealth: tuple[float, ...] = (0.0,) * len(FAIL_TILTS)
    better_wealth: tuple[float, ...] = (0.0,) * (2 * len(PASS_TILTS))
    canary_events: int = 0
    primary_events: int = 0
    worse: bool = False  # the "worse" e-value has reached its threshold: final
    not_worse: bool = False  # the "not worse" e-value has reached its threshold

    def flatten(self, prefix: str) -> FlatState:
        return {
            f"{prefix}.worseEvidence": [_finite(w) for w in self.worse_wealth],
            f"{prefix}.notWorseEvidence": [_finite(w) for w in self.better_wealth],
            f"{prefix}.canaryEvents": self.canary_events,
            f"{prefix}.primaryEvents": self.primary_events,
            f"{prefix}.worse": self.worse,
            f"{prefix}.notWorse": self.not_worse,
        }

    @classmethod
    def unflatten(cls, flat: Mapping[str, object], prefix: str) -> MetricState:
        return cls(
            worse_wealth=_numbers(flat, f"{prefix}.worseEvidence", len(FAIL_TILTS)),
            better_wealth=_numbers(flat, f"{prefix}.notWorseEvidence", 2 * len(PASS_TILTS)),
            canary_events=_count(flat, f"{prefix}.canaryEvents"),
            primary_events=_count(flat, f"{prefix}.primaryEvents"),
            worse=_flag(flat, f"{prefix}.worse"),
            not_worse=_flag(flat, f"{prefix}.notWorse"),
        )


@dataclass(frozen=True)
class JudgeState:
    """Everything the judge knows: last cumulative counts seen, and what they added up to."""

    seen_primary: Counts
    seen_canary: Counts
    canary_requests: int
    primary_requests: int
    metrics: Mapping[str, MetricState]

    @classmethod
    def empty(cls, metric_names: tuple[str, ...]) -> JudgeState:
        return cls(
            seen_primary=Counts(0),
            seen_canary=Counts(0),
            canary_requests=0,
            primary_requests=0,
            metrics={name: MetricState() for name in metric_names},
        )

    def to_dict(self) -> FlatState:
        """A flat mapping of numbers and lists of numbers, as the Canary status stores it."""
        flat: FlatState = {"canaryRequests": self.canary_requests}
        flat["primaryRequests"] = self.primary_requests
        flat.update(_flatten_counts(self.seen_primary, "seenPrimary"))
        flat.update(_flatten_counts(self.seen_canary, "seenCanary"))
        for name, metric_state in self.metrics.items():
            flat.update(metric_state.flatten(name))
        return flat

    @classmethod
    def from_dict(cls, flat: Mapping[str, object], metric_names: tuple[str, ...]) -> JudgeState:
        """Rebuild the state `to_dict` wrote; a missing or mistyped key is a `ConfigError`."""
        return cls(
            seen_primary=_unflatten_counts(flat, "seenPrimary"),
            seen_canary=_unflatten_counts(flat, "seenCanary"),
            canary_requests=_count(flat, "canaryRequests"),
            primary_requests=_count(flat, "primaryRequests"),
            metrics={name: MetricState.unflatten(flat, name) for name in metric_names},
        )


# JSON has no infinities; a log-evidence this far out is as decisive as an infinite one.
_LOG_BOUND = 1e6


def _finite(value: float) -> float:
    return max(-_LOG_BOUND, min(_LOG_BOUND, value))


def _flatten_counts(counts: Counts, prefix: str) -> FlatState:
    return {
        f"{prefix}.requests": counts.requests,
        f"{prefix}.errors": counts.errors,
        f"{prefix}.slow": counts.slow,
    }


def _unflatten_counts(flat: Mapping[str, object], prefix: str) -> Counts:
    return Counts(
        requests=_count(flat, f"{prefix}.requests"),
        errors=_count(flat, f"{prefix}.errors"),
        slow=_count(flat, f"{prefix}.slow"),
    )


def _value(flat: Mapping[str, object], key: str) -> object:
    if key not in flat:
        raise ConfigError(f"sequential judge state: missing key {key!r}")
    return flat[key]


def _count(flat: Mapping[str, object], key: str) -> int:
    value = _value(flat, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"sequential judge state: {key}: expected a count, got {value!r}")
    return value


def _numbers(flat: Mapping[str, object], key: str, length: int) -> tuple[float, ...]:
    value = _value(flat, key)
    if not (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == length
        and all(_is_number(item) for item in value)
    ):
        raise ConfigError(
            f"sequential judge state: {key}: expected a list of {length} numbers, got {value!r}"
        )
    return tuple(float(item) for item in value)


def _is_number(item: object) -> bool:
    return (
        not isinstance(item, bool) and isinstance(item, int | float) and math.isfinite(float(item))
    )


def _flag(flat: Mapping[str, object], key: str) -> bool:
    value = _value(flat, key)
    if not isinstance(value, bool):
        raise ConfigError(f"sequential judge state: {key}: expected true or false, got {value!r}")
    return value
