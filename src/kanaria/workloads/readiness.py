"""Is a Deployment's rollout done? Read from its status, as Flagger reads it (flagger.md §2.5).

Retriable answers (`TemporaryError`) mean "wait and ask again next tick"; a rollout stuck past
its progress deadline is a `PermanentError`, which rolls the release back.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from kanaria.errors import PermanentError, TemporaryError
from kanaria.spec.objects import Object


class NotReadyError(TemporaryError):
    """The rollout is still going."""


class DeadlineExceededError(PermanentError):
    """The rollout made no progress within its deadline."""


def check_rollout(
    deployment: Object, ready_threshold: int, deadline_seconds: float, now: datetime
) -> None:
    name = deployment["metadata"]["name"]
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = int(deployment["metadata"].get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        raise NotReadyError(
            "waiting for rollout to finish: observed deployment generation less then "
            "desired generation"
        )
    _check_conditions(name, status, deadline_seconds, now)
    _check_replicas(spec, status, ready_threshold)


def _check_conditions(
    name: str, status: dict[str, Any], deadline_seconds: float, now: datetime
) -> None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            raise DeadlineExceededError(f"deployment {name!r} exceeded its progress deadline")
        if (
            condition.get("type") == "Available"
            and condition.get("status") == "False"
            and condition.get("reason") == "MinimumReplicasUnavailable"
            and _older_than(condition, deadline_seconds, now)
        ):
            raise DeadlineExceededError(
                f"deployment {name!r} has had too few available replicas for longer than "
                f"its progress deadline ({deadline_seconds:g}s)"
            )


def _older_than(condition: dict[str, Any], seconds: float, now: datetime) -> bool:
    stamp = condition.get("lastTransitionTime") or condition.get("lastUpdateTime")
    if not stamp:
        return False
    since = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return (now - since).total_seconds() > seconds


def _check_replicas(spec: dict[str, Any], status: dict[str, Any], ready_threshold: int) -> None:
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        raise NotReadyError(
            f"waiting for rollout to finish: {updated} out of {desired} new replicas "
            "have been updated"
        )
    if replicas > updated:
        raise NotReadyError(
            f"waiting for rollout to finish: {replicas - updated} old replicas are pending "
            "termination"
        )
    needed = math.ceil(updated * ready_threshold / 100)
    if available < needed:
        raise NotReadyError(
            f"waiting for rollout to finish: {available} of {updated} (readyThreshold "
            f"{ready_threshold}%) updated replicas are available"
        )
