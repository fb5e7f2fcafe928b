"""What the dashboard's JSON says about a canary, computed from the stored objects.

Kept apart from the HTTP handlers so the shapes the page relies on are tested as plain data: a
row of the list, the detail of one canary (status, each check against its bounds, events), and
the weights that Events already tell about (`Advance podinfo.test canary weight 20`) for the
part of a release that happened before the dashboard started watching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kanaria.spec.canary import Canary, Metric, Phase
from kanaria.spec.objects import Object, name_of, namespace_of

_ADVANCE = re.compile(r"Advance \S+ canary weight (\d+)")
_BACK_TO_PRIMARY = re.compile(
    r"New revision detected! Scaling up|Promotion completed!|Canary failed! Scaling down"
)
# The builtin checks' deprecated `threshold` is a lower bound for success rate, an upper one
# for duration, as in Flagger.
_LEGACY_LOWER_BOUND = frozenset({"request-success-rate"})


@dataclass(frozen=True)
class Parsed:
    """A stored Canary and, when its spec is valid, the model of it."""

    raw: Object
    canary: Canary | None
    problem: str = ""

    @property
    def namespace(self) -> str:
        return namespace_of(self.raw)

    @property
    def name(self) -> str:
        return name_of(self.raw)


def parse(raw: Object) -> Parsed:
    try:
        return Parsed(raw, Canary.model_validate(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return Parsed(raw, None, f"invalid Canary: {where}: {first['msg']}")


def row(parsed: Parsed) -> dict[str, Any]:
    """One line of the list: what `kanaria get canaries` shows, plus failed checks."""
    status = parsed.raw.get("status") or {}
    row: dict[str, Any] = {
        "namespace": parsed.namespace,
        "name": parsed.name,
        "phase": str(status.get("phase") or (Phase.INITIALIZING.value if parsed.canary else "")),
        "weight": int(status.get("canaryWeight") or 0),
        "failedChecks": int(status.get("failedChecks") or 0),
        "lastTransitionTime": status.get("lastTransitionTime"),
        "message": parsed.problem or status.get("message") or _condition_message(status),
        "paused": bool(status.get("paused")),
    }
    if parsed.canary is not None:
        analysis = parsed.canary.spec.analysis
        row["threshold"] = analysis.failed_checks_threshold
        row["maxWeight"] = analysis.max_canary_weight
        row["target"] = _target(parsed.canary)
    return row


def detail(parsed: Parsed, events: list[Object]) -> dict[str, Any]:
    """The canary page: its row, the analysis settings, every check and the events."""
    result = row(parsed)
    result["events"] = [_event(event) for event in events]
    result["action"] = (parsed.raw.get("status") or {}).get("action")
    canary = parsed.canary
    if canary is None:
        result["checks"] = []
        return result
    analysis = canary.spec.analysis
    result.update(
        strategy=analysis.strategy.value,
        stepWeight=analysis.step_weight,
        stepWeights=analysis.step_weights,
        interval=analysis.interval_seconds,
        iterations=canary.status.iterations,
        checks=checks(canary),
    )
    return result


def checks(canary: Canary) -> list[dict[str, Any]]:
    """Each metric of the analysis with its bounds and its last measurement, in spec order."""
    measured = {check.name: check for check in canary.status.checks}
    result = []
    for metric in canary.spec.analysis.metrics:
        lower, upper = bounds(metric)
        entry: dict[str, Any] = {"name": metric.name, "min": lower, "max": upper}
        last = measured.get(metric.name)
        if last is not None:
            entry.update(
                value=last.value,
                verdict=last.verdict,
                threshold=last.threshold,
                message=last.message,
                time=last.time,
            )
        result.append(entry)
    return result


def bounds(metric: Metric) -> tuple[float | None, float | None]:
    if metric.threshold_range is not None:
        return metric.threshold_range.min, metric.threshold_range.max
    if metric.threshold is None:
        return None, None
    if metric.name in _LEGACY_LOWER_BOUND:
        return metric.threshold, None
    return None, metric.threshold


def weights_from_events(events: list[Object]) -> list[tuple[datetime, int]]:
    """Canary weights that the Events record, oldest first: each advance, and 0 when a release
    starts or ends. Folded Events keep only their last time, which is the best they know."""
    points = []
    for event in events:
        message = str(event.get("message") or "")
        stamp = _time(event.get("firstTimestamp") if event.get("count", 1) == 1 else None)
        stamp = stamp or _time(event.get("lastTimestamp"))
        if stamp is None:
            continue
        advance = _ADVANCE.search(message)
        if advance:
            points.append((stamp, int(advance.group(1))))
        elif _BACK_TO_PRIMARY.search(message):
            points.append((stamp, 0))
    return sorted(points)


def _condition_message(status: dict[str, Any]) -> str:
    """The `Promoted` condition's message: what the phase means, in Flagger's words."""
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    promoted = next((c for c in conditions if c.get("type") == "Promoted"), {})
    return str(promoted.get("message") or "")


def _event(event: Object) -> dict[str, Any]:
    return {
        "type": event.get("type", "Normal"),
        "reason": event.get("reason", ""),
        "message": event.get("message", ""),
        "count": int(event.get("count") or 1),
        "firstTimestamp": event.get("firstTimestamp"),
        "lastTimestamp": event.get("lastTimestamp"),
    }


def _target(canary: Canary) -> str:
    return f"{canary.spec.target_ref.kind}/{canary.spec.target_ref.name}"


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
