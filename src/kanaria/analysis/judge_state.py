"""What the sequential judge must remember between looks, and its flat form for the status.

The engine keeps this in the Canary's status so that an analysis survives a controller restart;
it is a couple of dozen numbers whatever the length of the analysis, because every e-value the
judge uses is a function of running sums (see `evidence.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kanaria.analysis.counts import Counts
from kanaria.analysis.evidence import ShareSums
from kanaria.errors import ConfigError

FlatState = dict[str, int | float | bool]


@dataclass(frozen=True)
class MetricState:
    """Running sums and crossings of one metric (errors, or requests over the latency bound)."""

    sums: ShareSums = field(default_factory=ShareSums)
    canary_events: int = 0
    primary_events: int = 0
    worse_relative: bool = False  # the relative "worse" e-value has reached its threshold
    worse_absolute: bool = False  # the absolute "worse" e-value has reached its threshold
    not_worse: bool = False  # the "not worse" e-value has reached its threshold

    def flatten(self, prefix: str) -> FlatState:
        return {
            f"{prefix}.excess": self.sums.excess,
            f"{prefix}.variance": self.sums.variance,
            f"{prefix}.canaryEvents": self.canary_events,
            f"{prefix}.primaryEvents": self.primary_events,
            f"{prefix}.worseRelative": self.worse_relative,
            f"{prefix}.worseAbsolute": self.worse_absolute,
            f"{prefix}.notWorse": self.not_worse,
        }

    @classmethod
    def unflatten(cls, flat: Mapping[str, object], prefix: str) -> MetricState:
        return cls(
            sums=ShareSums(
                excess=_number(flat, f"{prefix}.excess"),
                variance=_number(flat, f"{prefix}.variance"),
            ),
            canary_events=_count(flat, f"{prefix}.canaryEvents"),
            primary_events=_count(flat, f"{prefix}.primaryEvents"),
            worse_relative=_flag(flat, f"{prefix}.worseRelative"),
            worse_absolute=_flag(flat, f"{prefix}.worseAbsolute"),
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
        """A flat mapping of numbers, as the Canary status stores it (JSON-safe)."""
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


def _number(flat: Mapping[str, object], key: str) -> float:
    value = _value(flat, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"sequential judge state: {key}: expected a number, got {value!r}")
    return float(value)


def _flag(flat: Mapping[str, object], key: str) -> bool:
    value = _value(flat, key)
    if not isinstance(value, bool):
        raise ConfigError(f"sequential judge state: {key}: expected true or false, got {value!r}")
    return value
