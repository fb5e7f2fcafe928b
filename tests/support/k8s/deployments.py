"""A stand-in for kube-controller-manager's Deployment controller, for the emulator.

Nothing in the emulator runs Pods, yet kanaria, like Flagger, waits for Deployments to roll out:
it reads `observedGeneration`, the replica counts and the `Progressing` condition. A test switches
this on (`emulator.deployment_controller(rollout_delay=0.2)`) to see every new generation roll out
after a delay, or calls `fail()` to see it stop with `ProgressDeadlineExceeded`, instead of
patching each status by hand.
"""

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

import kmock

if TYPE_CHECKING:
    from tests.support.k8s.emulator import KubernetesEmulator

DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
ObjectName = tuple[str, str]  # namespace, name


class DeploymentController:
    """Writes each Deployment's status `rollout_delay` seconds after its spec changes."""

    def __init__(self, emulator: "KubernetesEmulator", *, rollout_delay: float) -> None:
        self._emulator = emulator
        self._rollout_delay = rollout_delay
        self._failing: set[ObjectName] = set()
        self._pending: dict[ObjectName, asyncio.Task[None]] = {}

    def fail(self, namespace: str, name: str) -> None:
        """Make this Deployment's rollouts fail (now and later) with ProgressDeadlineExceeded."""
        self._failing.add((namespace, name))
        self._schedule((namespace, name))

    def recover(self, namespace: str, name: str) -> None:
        """Let this Deployment's rollouts succeed again."""
        self._failing.discard((namespace, name))
        self._schedule((namespace, name))

    async def run(self) -> None:
        """Follow Deployments and roll out any whose status lags (until the emulator stops)."""
        async for event in self._emulator.follow(DEPLOYMENTS):
            meta = event["object"]["metadata"]
            key = (meta["namespace"], meta["name"])
            if event["type"] == "DELETED" and key in self._pending:
                self._pending.pop(key).cancel()
            elif event["type"] != "DELETED" and self._lags(event["object"]):
                self._schedule(key)

    def _lags(self, deployment: dict[str, Any]) -> bool:
        meta = deployment["metadata"]
        wanted = rollout_status(
            deployment, failed=(meta["namespace"], meta["name"]) in self._failing
        )
        return _comparable(deployment.get("status", {})) != _comparable(wanted)

    def _schedule(self, key: ObjectName) -> None:
        if key in self._pending:
            self._pending.pop(key).cancel()
        task = asyncio.get_running_loop().create_task(self._roll_out(key))
        self._pending[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: ObjectName, task: asyncio.Task[None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _roll_out(self, key: ObjectName) -> None:
        await asyncio.sleep(self._rollout_delay)
        deployment = self._emulator.get_object("apps/v1/deployments", *key)
        if deployment is not None and self._lags(deployment):
            status = rollout_status(deployment, failed=key in self._failing)
            await self._emulator.write_status(DEPLOYMENTS, *key, status)


_SUCCEEDED = (
    ("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
    ("Progressing", "True", "NewReplicaSetAvailable", "has successfully progressed."),
)
_FAILED = (
    (
        "Available",
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    ),
    ("Progressing", "False", "ProgressDeadlineExceeded", "has timed out progressing."),
)


def rollout_status(deployment: dict[str, Any], *, failed: bool) -> dict[str, Any]:
    """The status a Deployment controller reports once a rollout has finished or failed."""
    replicas = deployment.get("spec", {}).get("replicas", 1)
    name = deployment["metadata"]["name"]
    done = 0 if failed else replicas
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": done,
        "readyReplicas": done,
        "availableReplicas": done,
        "unavailableReplicas": replicas - done,
        "conditions": [_condition(*fields, name) for fields in (_FAILED if failed else _SUCCEEDED)],
    }


def _condition(kind: str, status: str, reason: str, message: str, name: str) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "Progressing":
        message = f'ReplicaSet "{name}" {message}'
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    """A status without its timestamps, which differ on every computation."""
    conditions = [
        {k: v for k, v in condition.items() if not k.endswith("Time")}
        for condition in status.get("conditions", [])
    ]
    return {**status, "conditions": conditions}
