"""The Deployment controller of the local platform: stored Deployments become running replicas.

The canary engine drives Deployments the same way on both platforms — it writes `spec.replicas`
and `spec.template` and reads `status` — so this controller keeps Kubernetes' rules where the
engine can see them: one replica set per pod template (named by its template hash, like
`pod-template-hash`), rolling updates that honour maxSurge/maxUnavailable with Kubernetes'
rounding and defaults (25 %/25 %), minReadySeconds, the Recreate strategy, scaling to zero,
and a status with exactly Kubernetes' fields and conditions: Available
(MinimumReplicasAvailable/Unavailable), Progressing (NewReplicaSetCreated, FoundNewReplicaSet,
ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded) and ReplicaFailure.

The arithmetic is a transcription of the upstream controller (pkg/controller/deployment:
rolling.go, recreate.go, progress.go, sync.go), kept in small pure functions so that unit tests
can check it step by step. Replica sets are not stored objects here: the controller keeps their
desired sizes in memory and, after a restart, rebuilds them from the replicas it adopts.
`observedGeneration` is written in the same pass that acted on that generation, never before.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError

from kanaria.clock import ROLLOUT_DEADLINE_FLOOR_SECONDS, Clock
from kanaria.errors import ConfigError, NotFoundError, TemporaryError
from kanaria.platforms.local.autoscaler import Autoscaler, ChangeWaiter, UsageSource
from kanaria.platforms.local.catalog import ImageCatalog, LaunchContext, ReplicaFactory
from kanaria.platforms.local.guard import ObjectGuard
from kanaria.platforms.local.network import Network, ReplicaTable
from kanaria.platforms.local.probes import Checker, Prober
from kanaria.platforms.local.processes import (
    PodAddressPool,
    ReplicaState,
    Spawner,
    Supervisor,
    replica_usage,
    timestamp,
    wait_first,
)
from kanaria.platforms.local.state import StateDir
from kanaria.platforms.local.store import ChangeFeed
from kanaria.spec.kube import Deployment
from kanaria.spec.objects import CONFIGMAP, DEPLOYMENT, HPA, SECRET, Object, ObjectClient

log = logging.getLogger(__name__)

DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"
# Kubernetes' alphabet for generated names: no vowels, no look-alike characters.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# ---- rolling-update arithmetic ---------------------------------------------------------------


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """An IntOrString against `total`: `3` is 3, `25%` of 10 is 3 (up) or 2 (down)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%") or not text[:-1].strip().isdigit():
        raise ConfigError(f"expected an integer or a percentage such as 25%, found {value!r}")
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) as Kubernetes resolves them: surge rounds up, unavailable down, and
    if both come to zero, one replica may be unavailable so the rollout can move at all."""
    surge = scaled_value(DEFAULT_MAX_SURGE if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(
        DEFAULT_MAX_UNAVAILABLE if max_unavailable is None else max_unavailable, desired, False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass
class ReplicaSet:
    """A Deployment's replicas of one pod template; `desired` is its `spec.replicas`."""

    template_hash: str
    desired: int
    sequence: int


@dataclass(frozen=True)
class SetCounts:
    """What a replica set has now: replicas (not terminating), ready, available."""

    replicas: int = 0
    ready: int = 0
    available: int = 0


@dataclass
class Rollout:
    """The input of one rollout step: the target size, the fenceposts and the replica sets."""

    replicas: int
    surge: int
    max_unavailable: int
    new: ReplicaSet
    old: list[ReplicaSet]
    counts: Mapping[str, SetCounts]

    def available(self, replica_set: ReplicaSet) -> int:
        return self.counts.get(replica_set.template_hash, SetCounts()).available

    @property
    def all_sets(self) -> list[ReplicaSet]:
        return [*self.old, self.new]


def rolling_step(rollout: Rollout) -> bool:
    """One step of a rolling update (rolling.go): scale the new set up, else the old ones down."""
    return reconcile_new_set(rollout) or reconcile_old_sets(rollout)


def reconcile_new_set(rollout: Rollout) -> bool:
    new, replicas = rollout.new, rollout.replicas
    if new.desired == replicas:
        return False
    if new.desired > replicas:
        new.desired = replicas
        return True
    total = sum(rs.desired for rs in rollout.all_sets)
    max_total = replicas + rollout.surge
    if total >= max_total:
        return False
    new.desired += min(max_total - total, replicas - new.desired)
    return True


def reconcile_old_sets(rollout: Rollout) -> bool:
    if sum(rs.desired for rs in rollout.old) == 0:
        return False
    all_replicas = sum(rs.desired for rs in rollout.all_sets)
    min_available = rollout.replicas - rollout.max_unavailable
    new_unavailable = rollout.new.desired - rollout.available(rollout.new)
    max_scaled_down = all_replicas - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = cleanup_unhealthy(rollout, max_scaled_down)
    return cleaned + scale_down_old_sets(rollout) > 0


def cleanup_unhealthy(rollout: Rollout, max_cleanup: int) -> int:
    """Scale old sets down by their unavailable replicas first: they serve nobody."""
    total = 0
    for old in rollout.old:
        if total >= max_cleanup:
            break
        unhealthy = old.desired - rollout.available(old)
        if old.desired == 0 or unhealthy <= 0:
            continue
        count = min(max_cleanup - total, unhealthy)
        old.desired -= count
        total += count
    return total


def scale_down_old_sets(rollout: Rollout) -> int:
    min_available = rollout.replicas - rollout.max_unavailable
    available = sum(rollout.available(rs) for rs in rollout.all_sets)
    if available <= min_available:
        return 0
    budget, total = available - min_available, 0
    for old in rollout.old:
        if total >= budget:
            break
        count = min(old.desired, budget - total)
        old.desired -= count
        total += count
    return total


def recreate_step(rollout: Rollout, old_replicas_exist: bool) -> bool:
    """Recreate (recreate.go): every old replica gone, terminated ones included, then the new."""
    if any(rs.desired for rs in rollout.old):
        for old in rollout.old:
            old.desired = 0
        return True
    if old_replicas_exist or rollout.new.desired == rollout.replicas:
        return False
    rollout.new.desired = rollout.replicas
    return True


# ---- status ----------------------------------------------------------------------------------


def parse_timestamp(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def condition(kind: str, status: str, reason: str, message: str, now: datetime) -> Object:
    stamp = timestamp(now)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def find_condition(conditions: Sequence[Object], kind: str) -> Object | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def set_condition(conditions: list[Object], new: Object) -> list[Object]:
    """SetDeploymentCondition: same status and reason changes nothing; the same status keeps
    its lastTransitionTime; the condition moves to the end."""
    current = find_condition(conditions, new["type"])
    if current is not None and (current["status"], current["reason"]) == (
        new["status"],
        new["reason"],
    ):
        return conditions
    if current is not None and current["status"] == new["status"]:
        new = {**new, "lastTransitionTime": current["lastTransitionTime"]}
    return [*[c for c in conditions if c.get("type") != new["type"]], new]


def remove_condition(conditions: list[Object], kind: str) -> list[Object]:
    return [c for c in conditions if c.get("type") != kind]


@dataclass(frozen=True)
class StatusInput:
    """Everything a Deployment's status is computed from, after this pass acted."""

    generation: int
    replicas: int
    max_unavailable: int
    progress_deadline: timedelta
    set_name: str
    sets: Sequence[ReplicaSet]
    new_hash: str
    counts: Mapping[str, SetCounts]
    previous: Mapping[str, Any]
    now: datetime
    failure: str | None = None
    paused: bool = False


def deployment_status(given: StatusInput) -> Object:
    """calculateStatus, then the Progressing condition as syncRolloutStatus writes it."""
    status = _counts_status(given)
    conditions = list(status.pop("conditions"))
    if not given.paused:
        conditions = _progressing(given, status, conditions)
    if given.failure:
        failed = condition("ReplicaFailure", "True", "FailedCreate", given.failure, given.now)
        conditions = set_condition(conditions, failed)
    else:
        conditions = remove_condition(conditions, "ReplicaFailure")
    return {**_without_zeros(status), "conditions": conditions}


def _counts_status(given: StatusInput) -> Object:
    counts = given.counts.values()
    available = sum(c.available for c in counts)
    desired_total = sum(rs.desired for rs in given.sets)
    status: Object = {
        "observedGeneration": given.generation,
        "replicas": sum(c.replicas for c in counts),
        "updatedReplicas": given.counts.get(given.new_hash, SetCounts()).replicas,
        "readyReplicas": sum(c.ready for c in counts),
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired_total - available),
    }
    conditions = list(given.previous.get("conditions") or [])
    if available >= given.replicas - given.max_unavailable:
        new = condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            given.now,
        )
    else:
        new = condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            given.now,
        )
    status["conditions"] = set_condition(conditions, new)
    return status


def _progressing(given: StatusInput, status: Object, conditions: list[Object]) -> list[Object]:
    current = find_condition(conditions, "Progressing")
    complete = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
    )
    if complete:
        return conditions
    name = given.set_name
    if _rollout_complete(given, status):
        message = f'ReplicaSet "{name}" has successfully progressed.'
        done = condition("Progressing", "True", "NewReplicaSetAvailable", message, given.now)
        return set_condition(conditions, done)
    if _made_progress(given.previous, status):
        message = f'ReplicaSet "{name}" is progressing.'
        moving = condition("Progressing", "True", "ReplicaSetUpdated", message, given.now)
        if current is not None and current.get("status") == "True":
            moving["lastTransitionTime"] = current["lastTransitionTime"]
        return [*remove_condition(conditions, "Progressing"), moving]
    if current is not None and _timed_out(given, current):
        message = f'ReplicaSet "{name}" has timed out progressing.'
        stuck = condition("Progressing", "False", "ProgressDeadlineExceeded", message, given.now)
        return set_condition(conditions, stuck)
    return conditions


def _rollout_complete(given: StatusInput, status: Object) -> bool:
    return bool(
        status["updatedReplicas"] == given.replicas
        and status["replicas"] == given.replicas
        and status["availableReplicas"] == given.replicas
        and status["observedGeneration"] >= given.generation
    )


def _made_progress(previous: Mapping[str, Any], status: Object) -> bool:
    def old(key: str) -> int:
        return int(previous.get(key) or 0)

    old_before = old("replicas") - old("updatedReplicas")
    old_now = status["replicas"] - status["updatedReplicas"]
    return bool(
        status["updatedReplicas"] > old("updatedReplicas")
        or old_now < old_before
        or status["readyReplicas"] > old("readyReplicas")
        or status["availableReplicas"] > old("availableReplicas")
    )


def _timed_out(given: StatusInput, current: Mapping[str, Any]) -> bool:
    if current.get("reason") == "NewReplicaSetAvailable":
        return False
    if current.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_timestamp(current.get("lastUpdateTime"))
    return since is not None and since + given.progress_deadline < given.now


def _without_zeros(status: Object) -> Object:
    """Kubernetes omits zero counts (`omitempty`); observedGeneration is always there."""
    return {k: v for k, v in status.items() if v or k == "observedGeneration"}


def status_patch(previous: Mapping[str, Any], status: Mapping[str, Any]) -> Object:
    """A merge patch that turns `previous` into exactly `status` (fields gone become None)."""
    patch: Object = {key: None for key in previous if key not in status}
    patch.update(status)
    return patch


# ---- names -----------------------------------------------------------------------------------


def template_hash(template: Mapping[str, Any]) -> str:
    """A short, stable name for a pod template, in Kubernetes' style (`pod-template-hash`)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:4], "big")
    return "".join(NAME_ALPHABET[ord(digit) % len(NAME_ALPHABET)] for digit in str(number))


def pod_name(deployment: str, hash_text: str, rng: random.Random, taken: Iterable[str]) -> str:
    used = set(taken)
    for _ in range(100):
        suffix = "".join(rng.choice(NAME_ALPHABET) for _ in range(5))
        name = f"{deployment}-{hash_text}-{suffix}"
        if name not in used:
            return name
    raise TemporaryError(f"no free replica name for {deployment}-{hash_text}")


# ---- the controller --------------------------------------------------------------------------


@dataclass
class _Tracked:
    """The controller's memory of one Deployment: its replica sets and what failed."""

    sets: dict[str, ReplicaSet] = field(default_factory=dict)
    failure: str | None = None


class DeploymentController:
    """Reconciles every stored Deployment with the supervisor's replicas.

    `reconcile_all()` is one pass (what unit tests call); `run()` repeats it whenever the store
    or a replica changes, when the next timer of a pass falls due (a replica turning
    available after minReadySeconds, a progress deadline), and at least every
    `poll_interval` real seconds for stores that announce no changes.
    """

    def __init__(
        self,
        objects: ObjectClient,
        supervisor: Supervisor,
        factory: ReplicaFactory,
        *,
        wait_for_change: ChangeWaiter | None = None,
        rng: random.Random | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.objects = objects
        self.supervisor = supervisor
        self.factory = factory
        self.wait_for_change = wait_for_change or _poll
        self.rng = rng or random.Random()
        self.poll_interval = poll_interval
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._sequence = 0
        self._next_timer: datetime | None = None
        self._invalid: dict[tuple[str, str], int] = {}
        self.guard = ObjectGuard(objects, supervisor.clock, "workloads")

    async def reconcile_all(self) -> bool:
        """One pass over every Deployment; stops the replicas of deleted ones. True if it
        changed anything (then another pass should follow at once)."""
        deployments = await self.objects.list(DEPLOYMENT, None)
        self._next_timer = None
        present = set()
        changed = False
        for obj in deployments:
            metadata = obj.get("metadata") or {}
            key = (str(metadata.get("namespace") or "default"), str(metadata.get("name")))
            present.add(key)
            try:
                changed |= await self.guard.run(obj, partial(self.reconcile, obj), False)
            except TemporaryError as exc:
                log.info("deployment %s/%s: %s; retrying", *key, exc)
        return self._stop_orphans(present) or changed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                changed = await self.reconcile_all()
            except TemporaryError as exc:
                log.info("deployments: %s; retrying", exc)
                changed = False
            if not changed:
                within = self._until_next_timer()
                await wait_first(stop, self.wait_for_change(within), within)

    def _until_next_timer(self) -> float:
        if self._next_timer is None:
            return self.poll_interval
        seconds = (self._next_timer - self.supervisor.clock.now()).total_seconds()
        return min(self.poll_interval, max(0.005, seconds))

    def _timer(self, moment: datetime) -> None:
        """Note a moment at which the status will change without any event announcing it."""
        if moment > self.supervisor.clock.now():
            self._next_timer = min(self._next_timer or moment, moment)

    async def reconcile(self, obj: Object) -> bool:
        """Act on one Deployment, then write its status for the generation acted on."""
        try:
            deployment = Deployment.model_validate(obj)
        except ValidationError as exc:
            self._warn_invalid(obj, exc)
            return False
        key = (deployment.namespace, deployment.name)
        tracked = self._tracked.setdefault(key, _Tracked())
        new_hash = template_hash(obj["spec"]["template"])
        created = self._ensure_sets(tracked, key, new_hash)
        acted = self._step(deployment, tracked, new_hash, key)
        tracked.failure = await self._apply(deployment, obj, tracked, new_hash)
        status_changed = await self._write_status(deployment, obj, tracked, new_hash, created)
        return acted or status_changed

    def _warn_invalid(self, obj: Object, exc: ValidationError) -> None:
        """Once per generation: the store's admission should have refused it already."""
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("namespace") or "default"), str(metadata.get("name")))
        generation = int(metadata.get("generation") or 0)
        if self._invalid.get(key) != generation:
            self._invalid[key] = generation
            log.warning("deployment %s/%s is invalid, left as it is: %s", *key, exc)

    # ---- replica sets ----

    def _ensure_sets(self, tracked: _Tracked, key: tuple[str, str], new_hash: str) -> bool:
        """Adopt sets of replicas we did not create; add the set of the current template.
        True when the current template's set is new (NewReplicaSetCreated)."""
        replicas = self._live(key)
        for state in sorted(replicas, key=_creation):
            if state.template_hash not in tracked.sets:
                count = sum(1 for r in replicas if r.template_hash == state.template_hash)
                adopted = ReplicaSet(state.template_hash, count, self._next())
                tracked.sets[state.template_hash] = adopted
        hashes_in_use = {r.template_hash for r in self.supervisor.replicas(*key)}
        for hash_text, replica_set in list(tracked.sets.items()):
            if hash_text not in hashes_in_use | {new_hash} and replica_set.desired == 0:
                del tracked.sets[hash_text]
        if new_hash in tracked.sets:
            return False
        tracked.sets[new_hash] = ReplicaSet(new_hash, 0, self._next())
        return True

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _step(
        self, deployment: Deployment, tracked: _Tracked, new_hash: str, key: tuple[str, str]
    ) -> bool:
        rollout = self._rollout(deployment, tracked, new_hash, key)
        if deployment.spec.paused:
            return _paused_step(rollout)
        if deployment.spec.strategy.type == "Recreate":
            old_hashes = {rs.template_hash for rs in rollout.old}
            old_exist = any(r.template_hash in old_hashes for r in self.supervisor.replicas(*key))
            return recreate_step(rollout, old_exist)
        return rolling_step(rollout)

    def _rollout(
        self, deployment: Deployment, tracked: _Tracked, new_hash: str, key: tuple[str, str]
    ) -> Rollout:
        surge, max_unavailable = _fenceposts(deployment)
        old = sorted(
            (rs for h, rs in tracked.sets.items() if h != new_hash), key=lambda rs: rs.sequence
        )
        return Rollout(
            replicas=_replicas(deployment),
            surge=surge,
            max_unavailable=max_unavailable,
            new=tracked.sets[new_hash],
            old=old,
            counts=self._counts(deployment, key),
        )

    def _counts(self, deployment: Deployment, key: tuple[str, str]) -> dict[str, SetCounts]:
        now = self.supervisor.clock.now()
        min_ready = timedelta(
            seconds=self.supervisor.clock.scaled(deployment.spec.min_ready_seconds)
        )
        counts: dict[str, SetCounts] = {}
        for state in self._live(key):
            before = counts.get(state.template_hash, SetCounts())
            available = state.ready_since is not None and state.ready_since + min_ready <= now
            if state.ready_since is not None and not available:
                self._timer(state.ready_since + min_ready)
            counts[state.template_hash] = SetCounts(
                before.replicas + 1,
                before.ready + int(state.ready),
                before.available + int(state.ready and available),
            )
        return counts

    def _live(self, key: tuple[str, str]) -> list[ReplicaState]:
        return [r for r in self.supervisor.replicas(*key) if r.phase != "Terminating"]

    # ---- replicas ----

    async def _apply(
        self, deployment: Deployment, obj: Object, tracked: _Tracked, new_hash: str
    ) -> str | None:
        """Start or stop replicas until each set has `desired`; the reason a start failed."""
        key = (deployment.namespace, deployment.name)
        failure = None
        for hash_text, replica_set in tracked.sets.items():
            replicas = [r for r in self._live(key) if r.template_hash == hash_text]
            surplus = len(replicas) - replica_set.desired
            for victim in sorted(replicas, key=_deletion_order)[: max(0, surplus)]:
                self.supervisor.stop(victim.namespace, victim.name)
            if surplus < 0 and hash_text == new_hash:
                failure = await self._start(deployment, obj, new_hash, -surplus) or failure
            elif surplus < 0:
                replica_set.desired = len(replicas)  # an adopted old template cannot be rebuilt
        return failure

    async def _start(
        self, deployment: Deployment, obj: Object, new_hash: str, count: int
    ) -> str | None:
        taken = [r.name for r in self.supervisor.replicas(deployment.namespace)]
        for _ in range(count):
            name = pod_name(deployment.name, new_hash, self.rng, taken)
            try:
                spec = await self.factory.build(deployment, obj["spec"]["template"], new_hash, name)
            except ConfigError as exc:
                return str(exc)
            self.supervisor.start(spec)
            taken.append(name)
        return None

    def _stop_orphans(self, present: set[tuple[str, str]]) -> bool:
        stopped = False
        for state in self.supervisor.replicas():
            if (state.namespace, state.workload) not in present and state.phase != "Terminating":
                self.supervisor.stop(state.namespace, state.name)
                stopped = True
        for key in [key for key in self._tracked if key not in present]:
            del self._tracked[key]
        return stopped

    # ---- status ----

    async def _write_status(
        self, deployment: Deployment, obj: Object, tracked: _Tracked, new_hash: str, created: bool
    ) -> bool:
        previous = copy.deepcopy(obj.get("status") or {})
        previous["conditions"] = self._conditions_before(deployment, previous, new_hash, created)
        key = (deployment.namespace, deployment.name)
        deadline = self.supervisor.clock.scaled(
            deployment.spec.progress_deadline_seconds, floor=ROLLOUT_DEADLINE_FLOOR_SECONDS
        )
        status = deployment_status(
            StatusInput(
                generation=int(obj["metadata"].get("generation") or 1),
                replicas=_replicas(deployment),
                max_unavailable=_fenceposts(deployment)[1],
                progress_deadline=timedelta(seconds=deadline),
                set_name=f"{deployment.name}-{new_hash}",
                sets=list(tracked.sets.values()),
                new_hash=new_hash,
                counts=self._counts(deployment, key),
                previous=previous,
                now=self.supervisor.clock.now(),
                failure=tracked.failure,
                paused=deployment.spec.paused,
            )
        )
        self._deadline_timer(status, deadline)
        stored = obj.get("status") or {}
        if status == stored:
            return False
        with contextlib.suppress(NotFoundError):
            await self.objects.patch_status(DEPLOYMENT, *key, status_patch(stored, status))
        return True

    def _deadline_timer(self, status: Mapping[str, Any], deadline: float) -> None:
        progressing = find_condition(status.get("conditions") or [], "Progressing")
        if progressing is None or progressing.get("status") != "True":
            return
        since = parse_timestamp(progressing.get("lastUpdateTime"))
        if since is not None and progressing.get("reason") != "NewReplicaSetAvailable":
            self._timer(since + timedelta(seconds=deadline))

    def _conditions_before(
        self, deployment: Deployment, previous: Mapping[str, Any], new_hash: str, created: bool
    ) -> list[Object]:
        """Conditions that Kubernetes sets before the rollout is judged: a new or found
        replica set, and pausing or resuming."""
        conditions = list(previous.get("conditions") or [])
        now = self.supervisor.clock.now()
        current = find_condition(conditions, "Progressing")
        name = f"{deployment.name}-{new_hash}"
        if created:
            made = condition(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{name}"',
                now,
            )
            conditions = set_condition(conditions, made)
        elif current is None:
            found = condition(
                "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{name}"', now
            )
            conditions = set_condition(conditions, found)
        return _pause_conditions(conditions, deployment.spec.paused, now)


def _pause_conditions(conditions: list[Object], paused: bool, now: datetime) -> list[Object]:
    current = find_condition(conditions, "Progressing")
    if current is not None and current.get("reason") == "ProgressDeadlineExceeded":
        return conditions
    is_paused = current is not None and current.get("reason") == "DeploymentPaused"
    if paused and not is_paused:
        new = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
        return set_condition(conditions, new)
    if not paused and is_paused:
        new = condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
        return set_condition(conditions, new)
    return conditions


def _paused_step(rollout: Rollout) -> bool:
    """A paused Deployment only scales (sync.go): its one active set, or else its newest."""
    active = [rs for rs in rollout.all_sets if rs.desired > 0]
    if len(active) > 1:
        return False
    target = active[0] if active else max(rollout.all_sets, key=lambda rs: rs.sequence)
    if target.desired == rollout.replicas:
        return False
    target.desired = rollout.replicas
    return True


def _replicas(deployment: Deployment) -> int:
    return 1 if deployment.spec.replicas is None else deployment.spec.replicas


def _fenceposts(deployment: Deployment) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in replicas; both 0 for Recreate. MaxUnavailable never
    exceeds the replica count (deployment/util.MaxUnavailable)."""
    strategy, replicas = deployment.spec.strategy, _replicas(deployment)
    if strategy.type != "RollingUpdate":
        return 0, 0
    rolling = strategy.rolling_update
    surge, unavailable = resolve_fenceposts(
        rolling.max_surge if rolling else None,
        rolling.max_unavailable if rolling else None,
        replicas,
    )
    return surge, min(unavailable, replicas)


def _creation(state: ReplicaState) -> datetime:
    return state.created_at or datetime.min.replace(tzinfo=UTC)


def _deletion_order(state: ReplicaState) -> tuple[Any, ...]:
    """Which replica goes first on scale-down (Kubernetes' ActivePods order): not running, not
    ready, ready for less time, restarted more, created later."""
    never = datetime.max.replace(tzinfo=UTC)
    return (
        state.phase == "Running",
        state.ready,
        -(state.ready_since or never).timestamp(),
        -state.restarts,
        -(state.created_at or never).timestamp(),
    )


async def _poll(within: float) -> None:
    await asyncio.sleep(within)


# ---- the whole runtime -----------------------------------------------------------------------


class ChangeSignal:
    """Change callbacks (the store's, the replica table's) made into something to wait on.

    A change that arrives while nobody waits is kept, so the next wait returns at once.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), within)
        self._event.clear()


class PlatformParts(Protocol):
    """What the runtime takes from the control plane's `Components`."""

    @property
    def state(self) -> StateDir: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def objects(self) -> ObjectClient: ...

    @property
    def network(self) -> Network: ...

    @property
    def replicas(self) -> ReplicaTable: ...


class WorkloadRuntime:
    """Supervisor, prober, Deployment controller and autoscaler, run together.

    The control plane makes one per state dir and runs `run()` as a controller; replicas
    outlive it (cancel it and they keep serving; the next runtime adopts them). `local down`
    stops them through their pid files, or `stop_replicas()` does it from here.

    The controller wakes on replica changes and on store writes: a `SqliteObjects` store's
    change feed is used by itself; for another store, `listen` registers a callback to call
    after each write (without it, the controller polls every half second).
    """

    def __init__(
        self,
        objects: ObjectClient,
        state: StateDir,
        clock: Clock,
        *,
        table: ReplicaTable | None = None,
        addresses: PodAddressPool | None = None,
        catalog: ImageCatalog | None = None,
        launch: LaunchContext | None = None,
        spawner: Spawner | None = None,
        checker: Checker | None = None,
        usage: UsageSource | None = None,
        listen: Callable[[Callable[[], None]], None] | None = None,
        wait_for_change: ChangeWaiter | None = None,
    ) -> None:
        self.signal, self.hpa_signal = ChangeSignal(), ChangeSignal()
        if listen is not None:
            listen(self.signal.notify)
            listen(self.hpa_signal.notify)
        elif isinstance(changes := getattr(objects, "changes", None), ChangeFeed):
            changes.listen((DEPLOYMENT, CONFIGMAP, SECRET), self.signal.notify)
            changes.listen((HPA,), self.hpa_signal.notify)
        self.supervisor = Supervisor(
            state, clock, spawner=spawner, addresses=addresses, table=table
        )
        self.supervisor.table.on_change(self.signal.notify)
        self.prober = Prober(self.supervisor, checker)
        launch = launch or LaunchContext(time_scale=self.supervisor.time_scale())
        factory = ReplicaFactory(objects, catalog or ImageCatalog.load(state.root), launch)
        self.controller = DeploymentController(
            objects, self.supervisor, factory, wait_for_change=wait_for_change or self.signal.wait
        )
        self.autoscaler = Autoscaler(objects, self.supervisor, usage=usage or replica_usage)

    @classmethod
    def for_platform(cls, parts: PlatformParts) -> WorkloadRuntime:
        """The runtime wired to the control plane: its store (woken by its change feed), pod
        IPs, hosts files and replica table."""
        clock = parts.clock
        launch = LaunchContext(
            time_scale=1.0 / clock.scaled(1.0), hosts_file=parts.network.hosts_file
        )
        return cls(
            parts.objects,
            parts.state,
            clock,
            table=parts.replicas,
            addresses=parts.network.pods,
            launch=launch,
        )

    @property
    def registry(self) -> ReplicaTable:
        return self.supervisor.table

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Adopt what an earlier runtime left running, then run every loop until `stop` is
        set or the task is cancelled. Replicas keep running either way."""
        stop = stop or asyncio.Event()
        self.supervisor.adopt()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.supervisor.run(stop))
            group.create_task(self.prober.run(stop))
            group.create_task(self.controller.run(stop))
            group.create_task(self.autoscaler.run(stop, self.hpa_signal.wait))

    async def stop_replicas(self, within: float = 10.0) -> list[str]:
        """Stop every replica (gracefully, then SIGKILL); the ones still running after."""
        return await self.supervisor.stop_all(within)


async def run_workloads(parts: PlatformParts) -> None:
    """The control plane's plug: `Controller("workloads", run_workloads)`."""
    await WorkloadRuntime.for_platform(parts).run()
