"""A whole release on the in-memory store with a real router: the engine, the Deployment target,
Events and the Canary store as on a cluster, a stand-in for the Deployment controller, healthy
metrics and webhooks, simulated time.

Router tests use it where a behaviour belongs to the release rather than to one router call:
Flagger's events for a provider, and the session cookie across two releases.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from kanaria.clock import SimulatedClock
from kanaria.engine.ports import Router, World
from kanaria.engine.simulated import ScriptedObserver, ScriptedWebhooks, SimulatedRouter
from kanaria.engine.tick import advance
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import CANARY, DEPLOYMENT, Object, ObjectClient
from kanaria.workloads.canaries import ObjectCanaryStore
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.events import ObjectEventRecorder, events_of

NAMESPACE = "test"
INTERVAL_SECONDS = 60


def podinfo(image: str = "stefanprodan/podinfo:3.1.0") -> Object:
    labels = {"app": "podinfo"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "podinfod", "image": image}]},
            },
        },
    }


def canary_document(provider: str, service: dict[str, Any], analysis: dict[str, Any]) -> Object:
    """A Canary for podinfo without checks or hooks: the router is what is under test."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "1m", "threshold": 5, **analysis},
        },
    }


class StoredRelease:
    """One Canary released tick by tick over stored objects."""

    def __init__(self, router: Callable[[ObjectClient], Router]) -> None:
        self.clock = SimulatedClock()
        self.objects = MemoryObjects()
        self.router = router(self.objects)
        self.world = World(
            target=DeploymentTarget(self.objects, self.clock),
            router=self.router,
            observer=ScriptedObserver(SimulatedRouter()),
            webhooks=ScriptedWebhooks(),
            events=ObjectEventRecorder(self.objects, self.clock),
            canaries=ObjectCanaryStore(self.objects),
            clock=self.clock,
        )
        self.statuses: list[dict[str, Any]] = []  # the Canary's status after each tick

    async def setup(self, canary: Object, *extra: Object) -> None:
        for obj in (podinfo(), *extra, canary):
            await self.objects.create(copy.deepcopy(obj))

    async def tick(self) -> None:
        await advance(self.world, NAMESPACE, "podinfo")
        await self._finish_rollouts()
        self.statuses.append(await self.status())
        self.clock.advance(INTERVAL_SECONDS)

    async def until(
        self, phase: str, limit: int = 40, each: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Tick until the Canary reaches `phase`, calling `each` after every tick."""
        for _ in range(limit):
            await self.tick()
            if each is not None:
                await each()
            if await self.phase() == phase:
                return
        raise AssertionError(f"not {phase} after {limit} ticks: {await self.messages()}")

    async def set_image(self, image: str) -> None:
        container = {**podinfo()["spec"]["template"]["spec"]["containers"][0], "image": image}
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        await self.objects.patch(DEPLOYMENT, NAMESPACE, "podinfo", patch)

    async def canary(self) -> Object:
        found = await self.objects.get(CANARY, NAMESPACE, "podinfo")
        assert found is not None
        return found

    async def phase(self) -> str:
        return str((await self.canary()).get("status", {}).get("phase"))

    async def status(self) -> dict[str, Any]:
        return dict((await self.canary()).get("status") or {})

    async def events(self) -> list[tuple[str, str]]:
        """(type, message) of every Event, oldest first, repeats folded."""
        events = await events_of(self.objects, await self.canary())
        return [(event["type"], event["message"]) for event in events]

    async def messages(self) -> list[str]:
        return [message for _, message in await self.events()]

    async def _finish_rollouts(self) -> None:
        """What the Deployment controller writes once a rollout is done."""
        for deployment in await self.objects.list(DEPLOYMENT, NAMESPACE):
            replicas = int(deployment["spec"].get("replicas", 1))
            meta = deployment["metadata"]
            status = deployment.get("status") or {}
            if status.get("observedGeneration") == meta["generation"] and (
                status.get("replicas") == replicas
            ):
                continue
            await self.objects.patch_status(
                DEPLOYMENT,
                NAMESPACE,
                meta["name"],
                {
                    "observedGeneration": meta["generation"],
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                },
            )
