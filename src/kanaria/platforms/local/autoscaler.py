"""The HorizontalPodAutoscaler of the local platform: replica counts from measured CPU.

The seed's HPA (autoscaling/v2beta2, CPU at 99 %, 2–4 replicas) must behave here as on a
cluster, because Flagger copies it for the primary and the engine scales targets to zero and
back around it. So this follows the upstream controller (pkg/controller/podautoscaler): usage
per replica against its request, desired = ceil(ready replicas × utilization / target), no
change within a 10 % tolerance, missing and unready replicas counted the conservative way,
min/max, scale-up and scale-down policies with stabilization windows (scale-down 300 s by
default), and no scaling at all while the target has 0 replicas. Every period and window is
shortened by the platform's time scale; utilization itself is a ratio of real CPU time to real
wall time, read from /proc (the replica's whole session, children included).

It reads `autoscaling/v2` and `v2beta2` (the same shape) and v1's
`targetCPUUtilizationPercentage`; Resource metrics for `cpu` and `memory` with
`averageUtilization` or `averageValue`. It writes the target Deployment's `spec.replicas` and
the HPA's status: currentReplicas, desiredReplicas, currentMetrics, lastScaleTime and the
AbleToScale / ScalingActive / ScalingLimited conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from pydantic import ValidationError

from kanaria.clock import Clock
from kanaria.errors import ConfigError, NotFoundError, TemporaryError
from kanaria.platforms.local.guard import ObjectGuard
from kanaria.platforms.local.processes import (
    ReplicaState,
    Supervisor,
    Usage,
    replica_usage,
    timestamp,
    wait_first,
)
from kanaria.spec.kube import HorizontalPodAutoscaler
from kanaria.spec.objects import DEPLOYMENT, HPA, Object, ObjectClient

log = logging.getLogger(__name__)

SYNC_PERIOD_SECONDS = 15.0
TOLERANCE = 0.1
DEFAULT_SCALE_DOWN_WINDOW_SECONDS = 300.0
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)")
_SUFFIXES = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
NO_SCALE = "the HPA controller was unable to get the target's current scale"
SCALING_DISABLED = "scaling is disabled since the replica count of the target is zero"
VALID_METRIC = "the HPA was able to successfully calculate a replica count from"
UsageSource = Callable[[Sequence[ReplicaState]], Mapping[str, Usage]]
ChangeWaiter = Callable[[float], Awaitable[object]]


def parse_quantity(text: Any) -> float:
    """A Kubernetes quantity in base units: `100m` → 0.1, `0.5` → 0.5, `64Mi` → 67108864."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None or match.group(2) not in _SUFFIXES:
        raise ConfigError(f"not a quantity: {text!r} (expected e.g. 100m, 0.5, 64Mi)")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


# ---- replica counts from metrics (replica_calculator.go) --------------------------------------


@dataclass(frozen=True)
class PodMetric:
    """One replica's usage (None: no sample yet) and request, in base units."""

    name: str
    usage: float | None
    request: float | None
    ready: bool = True


@dataclass(frozen=True)
class MetricTarget:
    """`averageUtilization` (percent of request) or `averageValue` (base units) of a resource."""

    resource: Literal["cpu", "memory"]
    utilization: int | None = None
    average_value: float | None = None


@dataclass(frozen=True)
class Proposal:
    """What one metric asks for, and the measurement to show in `currentMetrics`."""

    replicas: int
    utilization: int | None
    average_value: float


def propose(
    target: MetricTarget, pods: Sequence[PodMetric], current: int, tolerance: float = TOLERANCE
) -> Proposal:
    """The replica count one resource metric asks for (GetResourceReplicas).

    Unready replicas (CPU only) are left out of the first estimate; replicas without a sample
    are counted as idle when scaling up and as fully used when scaling down, and a second
    estimate with them may only confirm the direction of the first.
    """
    measured = {p.name: p for p in pods if p.usage is not None}
    unready = {n for n, p in measured.items() if target.resource == "cpu" and not p.ready}
    metrics = {n: p.usage for n, p in measured.items() if n not in unready}
    missing = [p for p in pods if p.usage is None]
    if not metrics:
        raise TemporaryError("did not receive metrics for targeted pods (pods might be unready)")
    requests = _requests(target, pods)
    ratio, utilization, average = _usage_ratio(target, metrics, requests)
    if not (unready and ratio > 1.0) and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, utilization, average)
        return Proposal(math.ceil(ratio * len(metrics)), utilization, average)
    filled = dict(metrics)
    if ratio < 1.0:
        fallback = max(100, target.utilization or 100) / 100
        filled.update({p.name: _full(target, requests, p.name, fallback) for p in missing})
    elif ratio > 1.0:
        filled.update({p.name: 0.0 for p in missing})
        filled.update(dict.fromkeys(unready, 0.0))
    new_ratio = _usage_ratio(target, filled, requests)[0]
    flipped = (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio)
    if abs(1.0 - new_ratio) <= tolerance or flipped:
        return Proposal(current, utilization, average)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Proposal(current, utilization, average)
    return Proposal(replicas, utilization, average)


def _requests(target: MetricTarget, pods: Sequence[PodMetric]) -> dict[str, float]:
    if target.utilization is None:
        return {}
    for pod in pods:
        if not pod.request:
            raise ConfigError(f"missing request for {target.resource} in pod {pod.name}")
    return {p.name: float(p.request or 0) for p in pods}


def _full(target: MetricTarget, requests: Mapping[str, float], name: str, share: float) -> float:
    if target.utilization is not None:
        return requests[name] * share
    return target.average_value or 0.0


def _usage_ratio(
    target: MetricTarget, metrics: Mapping[str, float | None], requests: Mapping[str, float]
) -> tuple[float, int | None, float]:
    """(usage ratio to the target, utilization in percent, average usage per replica)."""
    total = sum(value or 0.0 for value in metrics.values())
    average = total / len(metrics)
    if target.utilization is None:
        return average / float(target.average_value or 1), None, average
    requested = sum(requests[name] for name in metrics)
    utilization = int(total * 100 / requested)
    return utilization / target.utilization, utilization, average


# ---- behaviour: stabilization and rate limits (horizontal.go) ----------------------------------


@dataclass(frozen=True)
class ScalingPolicy:
    kind: Literal["Pods", "Percent"]
    value: int
    period: float


@dataclass(frozen=True)
class ScalingRules:
    """One direction of `spec.behavior`, with Kubernetes' defaults filled in."""

    stabilization: float
    select: Literal["Max", "Min", "Disabled"] = "Max"
    policies: tuple[ScalingPolicy, ...] = ()


DEFAULT_SCALE_UP = ScalingRules(
    0.0, "Max", (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0))
)
DEFAULT_SCALE_DOWN = ScalingRules(
    DEFAULT_SCALE_DOWN_WINDOW_SECONDS, "Max", (ScalingPolicy("Percent", 100, 15.0),)
)


def scaling_rules(behavior: Mapping[str, Any] | None) -> tuple[ScalingRules, ScalingRules]:
    """(scale-up, scale-down) rules from `spec.behavior`, defaults where it says nothing."""
    behavior = behavior or {}
    return (
        _rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP, "spec.behavior.scaleUp"),
        _rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN, "spec.behavior.scaleDown"),
    )


def _rules(raw: Any, default: ScalingRules, where: str) -> ScalingRules:
    if not raw:
        return default
    select = raw.get("selectPolicy", "Max")
    if select not in ("Max", "Min", "Disabled"):
        raise ConfigError(f"{where}.selectPolicy: expected Max, Min or Disabled, found {select!r}")
    policies = tuple(
        _policy(policy, f"{where}.policies[{index}]")
        for index, policy in enumerate(raw.get("policies") or [])
    )
    window = raw.get("stabilizationWindowSeconds")
    return ScalingRules(
        stabilization=default.stabilization if window is None else float(window),
        select=select,
        policies=policies or default.policies,
    )


def _policy(raw: Mapping[str, Any], where: str) -> ScalingPolicy:
    kind = raw.get("type")
    if kind not in ("Pods", "Percent"):
        raise ConfigError(f"{where}.type: expected Pods or Percent, found {kind!r}")
    return ScalingPolicy(kind, int(raw.get("value", 0)), float(raw.get("periodSeconds", 15)))


@dataclass
class ScaleHistory:
    """What one HPA remembers: recent recommendations and scale events, with their times."""

    recommendations: list[tuple[datetime, int]] = field(default_factory=list)
    scale_ups: list[tuple[datetime, int]] = field(default_factory=list)
    scale_downs: list[tuple[datetime, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    min_replicas: int
    max_replicas: int
    up: ScalingRules
    down: ScalingRules


Span = Callable[[float], timedelta]


def stabilize(
    history: ScaleHistory, desired: int, current: int, limits: Limits, *, now: datetime, span: Span
) -> int:
    """Hold the count between the lowest recommendation of the scale-up window and the highest
    of the scale-down window (stabilizeRecommendationWithBehaviors); record `desired`."""
    up_cutoff = now - span(limits.up.stabilization)
    down_cutoff = now - span(limits.down.stabilization)
    up_floor, down_ceiling = desired, desired
    for moment, recommended in history.recommendations:
        if moment > up_cutoff:
            up_floor = min(up_floor, recommended)
        if moment > down_cutoff:
            down_ceiling = max(down_ceiling, recommended)
    oldest = min(up_cutoff, down_cutoff)
    history.recommendations = [(m, r) for m, r in history.recommendations if m > oldest]
    history.recommendations.append((now, desired))
    return min(max(current, up_floor), down_ceiling)


def limit_rate(
    history: ScaleHistory, desired: int, current: int, limits: Limits, *, now: datetime, span: Span
) -> tuple[int, str, str]:
    """Apply min/max and the scaling policies (convertDesiredReplicasWithBehaviorRate):
    the count and the ScalingLimited reason and message."""
    if desired > current:
        ceiling = max(current, _up_limit(history, current, limits.up, now, span))
        if limits.max_replicas > ceiling:
            maximum, reason = ceiling, "ScaleUpLimit"
            message = "the desired replica count is increasing faster than the maximum scale rate"
        else:
            maximum, reason = limits.max_replicas, "TooManyReplicas"
            message = "the desired replica count is more than the maximum replica count"
        if desired > maximum:
            return maximum, reason, message
    elif desired < current:
        floor = min(current, _down_limit(history, current, limits.down, now, span))
        if limits.min_replicas < floor:
            minimum, reason = floor, "ScaleDownLimit"
            message = "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            minimum, reason = limits.min_replicas, "TooFewReplicas"
            message = "the desired replica count is less than the minimum replica count"
        if desired < minimum:
            return minimum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def _changes_since(events: Sequence[tuple[datetime, int]], cutoff: datetime) -> int:
    return sum(change for moment, change in events if moment > cutoff)


def _period_start(
    history: ScaleHistory, current: int, policy: ScalingPolicy, now: datetime, span: Span
) -> int:
    cutoff = now - span(policy.period)
    added = _changes_since(history.scale_ups, cutoff)
    removed = _changes_since(history.scale_downs, cutoff)
    return current - added + removed


def _up_limit(
    history: ScaleHistory, current: int, rules: ScalingRules, now: datetime, span: Span
) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(history, current, policy, now, span)
        if policy.kind == "Pods":
            proposals.append(start + policy.value)
        else:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    return (min if rules.select == "Min" else max)(proposals)


def _down_limit(
    history: ScaleHistory, current: int, rules: ScalingRules, now: datetime, span: Span
) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(history, current, policy, now, span)
        if policy.kind == "Pods":
            proposals.append(start - policy.value)
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    return (max if rules.select == "Min" else min)(proposals)


def record_scale(history: ScaleHistory, before: int, after: int, now: datetime) -> None:
    if after > before:
        history.scale_ups.append((now, after - before))
    elif after < before:
        history.scale_downs.append((now, before - after))


# ---- reading an HPA --------------------------------------------------------------------------


def metric_targets(obj: Object, hpa: HorizontalPodAutoscaler) -> list[MetricTarget]:
    """The Resource metrics of an HPA (v2/v2beta2, or v1's CPU percentage); CPU 80 % when none
    is given, as Kubernetes defaults it."""
    legacy = (obj.get("spec") or {}).get("targetCPUUtilizationPercentage")
    if legacy is not None:
        return [MetricTarget("cpu", utilization=int(legacy))]
    targets = []
    for index, metric in enumerate(hpa.spec.metrics):
        where = f"spec.metrics[{index}]"
        resource = metric.get("resource") or {}
        if metric.get("type") != "Resource" or resource.get("name") not in ("cpu", "memory"):
            raise ConfigError(
                f"{where}: the local platform reads only cpu and memory Resource metrics"
            )
        targets.append(_target(resource, where))
    return targets or [MetricTarget("cpu", utilization=80)]


def _target(resource: Mapping[str, Any], where: str) -> MetricTarget:
    target = resource.get("target") or {}
    name: Literal["cpu", "memory"] = "cpu" if resource.get("name") == "cpu" else "memory"
    if "averageUtilization" in target:
        return MetricTarget(name, utilization=int(target["averageUtilization"]))
    if "averageValue" in target:
        return MetricTarget(name, average_value=parse_quantity(target["averageValue"]))
    raise ConfigError(f"{where}.resource.target: expected averageUtilization or averageValue")


def metric_status(target: MetricTarget, proposal: Proposal) -> Object:
    """One entry of `status.currentMetrics`."""
    if target.resource == "cpu":
        value = f"{round(proposal.average_value * 1000)}m"
    else:
        value = str(round(proposal.average_value))
    current: Object = {"averageValue": value}
    if proposal.utilization is not None:
        current["averageUtilization"] = proposal.utilization
    return {"type": "Resource", "resource": {"name": target.resource, "current": current}}


# ---- the controller --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    pid: int
    cpu_seconds: float
    at: datetime


@dataclass
class _Outcome:
    """What one HPA pass decided, for its status."""

    current: int
    desired: int
    metrics: list[Object] = field(default_factory=list)
    conditions: list[tuple[str, str, str, str]] = field(default_factory=list)


class Autoscaler:
    """Every `sync_period` (15 s, scaled) reconciles each HPA with its target Deployment."""

    def __init__(
        self,
        objects: ObjectClient,
        supervisor: Supervisor,
        *,
        usage: UsageSource = replica_usage,
        sync_period: float = SYNC_PERIOD_SECONDS,
        tolerance: float = TOLERANCE,
    ) -> None:
        self.objects = objects
        self.supervisor = supervisor
        self.clock: Clock = supervisor.clock
        self.usage = usage
        self.sync_period = sync_period
        self.tolerance = tolerance
        self._samples: dict[str, _Sample] = {}
        self._rates: dict[str, float] = {}
        self._memory: dict[str, float] = {}
        self._ready_all_window: set[str] = set()
        self._generations: dict[tuple[str, str], int] = {}
        self._history: dict[tuple[str, str], ScaleHistory] = {}
        self.guard = ObjectGuard(objects, self.clock, "autoscaler")

    async def run(self, stop: asyncio.Event, wake: ChangeWaiter | None = None) -> None:
        """Reconcile every `sync_period` (scaled); with `wake` (called with a timeout, returning
        on a store write), also at once when an HPA is created or its spec changes, as the
        upstream controller reacts to HPA events."""
        while not stop.is_set():
            try:
                await self.tick()
            except TemporaryError as exc:
                log.info("autoscaler: %s; retrying", exc)
            next_tick = time.monotonic() + self.clock.scaled(self.sync_period)
            while not stop.is_set() and (remaining := next_tick - time.monotonic()) > 0:
                await wait_first(stop, (wake or asyncio.sleep)(remaining), remaining)
                if wake is not None and await self._specs_changed():
                    break

    async def tick(self) -> None:
        """Sample every replica's usage once, then reconcile every HPA."""
        autoscalers = await self.objects.list(HPA, None)
        self._generations = {_key(obj): _generation(obj) for obj in autoscalers}
        if not autoscalers:
            self._samples = {}
            return
        self._sample()
        for obj in autoscalers:
            try:
                await self.guard.run(obj, partial(self.reconcile, obj), None)
            except NotFoundError:
                continue

    async def _specs_changed(self) -> bool:
        autoscalers = await self.objects.list(HPA, None)
        return {_key(obj): _generation(obj) for obj in autoscalers} != self._generations

    def _sample(self) -> None:
        """CPU rates (cores) since the previous sample of the same process, and memory."""
        replicas = [r for r in self.supervisor.replicas() if r.pid is not None]
        now, usage = self.clock.now(), self.usage(replicas)
        samples, self._rates, self._ready_all_window = {}, {}, set()
        for replica in replicas:
            measured = usage.get(replica.name)
            if measured is None or replica.pid is None:
                continue
            samples[replica.name] = _Sample(replica.pid, measured.cpu_seconds, now)
            before = self._samples.get(replica.name)
            if before is None or before.pid != replica.pid or now <= before.at:
                continue
            used = max(0.0, measured.cpu_seconds - before.cpu_seconds)
            self._rates[replica.name] = used / (now - before.at).total_seconds()
            # A sample counts as ready only if the replica was ready all through its window.
            if replica.ready_since is not None and replica.ready_since <= before.at:
                self._ready_all_window.add(replica.name)
        self._samples = samples
        self._memory = {name: float(u.rss_bytes) for name, u in usage.items()}

    async def reconcile(self, obj: Object) -> None:
        key = _key(obj)
        try:
            hpa = HorizontalPodAutoscaler.model_validate(obj)
        except ValidationError as exc:
            log.warning("HPA %s/%s is invalid: %s", *key, exc)
            return
        outcome = await self._decide(obj, hpa, key)
        await self._write_status(obj, key, outcome)

    async def _decide(
        self, obj: Object, hpa: HorizontalPodAutoscaler, key: tuple[str, str]
    ) -> _Outcome:
        ref = hpa.spec.scale_target_ref
        target = None
        if ref.kind == "Deployment":
            target = await self.objects.get(DEPLOYMENT, key[0], ref.name)
        if target is None:
            message = f"{NO_SCALE}: {ref.kind.lower()}s/{ref.name} not found"
            return _Outcome(0, 0, conditions=[("AbleToScale", "False", "FailedGetScale", message)])
        current = int((target.get("spec") or {}).get("replicas", 1))
        spec = hpa.spec
        if current == 0 and spec.min_replicas != 0:
            disabled = ("ScalingActive", "False", "ScalingDisabled", SCALING_DISABLED)
            return _Outcome(0, 0, conditions=[disabled])
        if current > spec.max_replicas or current < spec.min_replicas:
            bound = min(max(current, spec.min_replicas), spec.max_replicas)
            return await self._rescale(key, ref.name, _Outcome(current, bound))
        return await self._from_metrics(obj, hpa, key, current)

    async def _from_metrics(
        self, obj: Object, hpa: HorizontalPodAutoscaler, key: tuple[str, str], current: int
    ) -> _Outcome:
        ref_name = hpa.spec.scale_target_ref.name
        outcome = _Outcome(current, current)
        if key not in self._history:
            # A new HPA (or a restarted controller) starts with the current count as a
            # recommendation, so it never scales down before one window has passed.
            self._history[key] = ScaleHistory(recommendations=[(self.clock.now(), current)])
        try:
            targets = metric_targets(obj, hpa)
            up, down = scaling_rules(hpa.spec.behavior)
            proposals = [self._propose(t, key[0], ref_name, current) for t in targets]
        except (ConfigError, TemporaryError) as exc:
            failed = ("ScalingActive", "False", "FailedGetResourceMetric", str(exc))
            outcome.conditions.append(failed)
            return outcome
        outcome.metrics = [metric_status(t, p) for t, p in zip(targets, proposals, strict=True)]
        wanted = max(p.replicas for p in proposals)
        resource = targets[[p.replicas for p in proposals].index(wanted)].resource
        limits = Limits(hpa.spec.min_replicas, hpa.spec.max_replicas, up, down)
        history = self._history.setdefault(key, ScaleHistory())
        now = self.clock.now()
        stable = stabilize(history, wanted, current, limits, now=now, span=self._span)
        outcome.desired, reason, message = limit_rate(
            history, stable, current, limits, now=now, span=self._span
        )
        outcome.conditions += [
            ("ScalingActive", "True", "ValidMetricFound", f"{VALID_METRIC} {resource} resource"),
            ("ScalingLimited", str(reason != "DesiredWithinRange"), reason, message),
            ("AbleToScale", "True", *_stabilized(wanted, stable)),
        ]
        return await self._rescale(key, ref_name, outcome)

    def _propose(
        self, target: MetricTarget, namespace: str, workload: str, current: int
    ) -> Proposal:
        replicas = [
            r for r in self.supervisor.replicas(namespace, workload) if r.phase != "Terminating"
        ]
        pods = [self._pod_metric(target, replica) for replica in replicas]
        return propose(target, pods, current, self.tolerance)

    def _pod_metric(self, target: MetricTarget, replica: ReplicaState) -> PodMetric:
        spec = self.supervisor.spec_of(replica.namespace, replica.name)
        request_text = (spec.requests if spec else {}).get(target.resource)
        request = parse_quantity(request_text) if request_text is not None else None
        if target.resource == "cpu":
            ready = replica.name in self._ready_all_window
            return PodMetric(replica.name, self._rates.get(replica.name), request, ready)
        return PodMetric(replica.name, self._memory.get(replica.name), request, replica.ready)

    async def _rescale(self, key: tuple[str, str], target: str, outcome: _Outcome) -> _Outcome:
        if outcome.desired == outcome.current:
            if not any(c[0] == "AbleToScale" for c in outcome.conditions):
                outcome.conditions.append(("AbleToScale", "True", *_stabilized(0, 0)))
            return outcome
        patch = {"spec": {"replicas": outcome.desired}}
        await self.objects.patch(DEPLOYMENT, key[0], target, patch)
        history = self._history.setdefault(key, ScaleHistory())
        record_scale(history, outcome.current, outcome.desired, self.clock.now())
        log.info("HPA %s/%s: %s %d → %d", *key, target, outcome.current, outcome.desired)
        message = f"the HPA controller was able to update the target scale to {outcome.desired}"
        outcome.conditions.append(("AbleToScale", "True", "SucceededRescale", message))
        return outcome

    async def _write_status(self, obj: Object, key: tuple[str, str], outcome: _Outcome) -> None:
        previous = obj.get("status") or {}
        now = self.clock.now()
        status: Object = {
            "observedGeneration": int((obj.get("metadata") or {}).get("generation") or 1),
            "currentReplicas": outcome.current,
            "desiredReplicas": outcome.desired,
            "currentMetrics": outcome.metrics or None,
            "conditions": _conditions(previous.get("conditions") or [], outcome.conditions, now),
        }
        if outcome.desired != outcome.current:
            status["lastScaleTime"] = timestamp(now)
        if all(previous.get(k) == v for k, v in status.items()):
            return
        with contextlib.suppress(NotFoundError):
            await self.objects.patch_status(HPA, *key, status)

    def _span(self, seconds: float) -> timedelta:
        return timedelta(seconds=self.clock.scaled(seconds))


def _key(obj: Object) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return (str(metadata.get("namespace") or "default"), str(metadata.get("name")))


def _generation(obj: Object) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 0)


def _stabilized(wanted: int, stable: int) -> tuple[str, str]:
    """AbleToScale's reason and message after stabilization."""
    if stable < wanted:
        return ("ScaleUpStabilized", "recent recommendations were lower than current one, "
                "applying the lowest recent recommendation")  # fmt: skip
    if stable > wanted:
        return ("ScaleDownStabilized", "recent recommendations were higher than current one, "
                "applying the highest recent recommendation")  # fmt: skip
    return ("ReadyForNewScale", "recommended size matches current size")


def _conditions(
    previous: Sequence[Mapping[str, Any]],
    updates: Sequence[tuple[str, str, str, str]],
    now: datetime,
) -> list[Object]:
    """HPA conditions: reason and message always updated, lastTransitionTime only when the
    status flips (setConditionInList)."""
    conditions = [dict(c) for c in previous]
    for kind, status, reason, message in updates:
        existing = next((c for c in conditions if c.get("type") == kind), None)
        if existing is None:
            existing = {"type": kind}
            conditions.append(existing)
        if existing.get("status") != status:
            existing["lastTransitionTime"] = timestamp(now)
        existing.update(status=status, reason=reason, message=message)
    return conditions
