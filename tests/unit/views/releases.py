"""A release of the seed scenario over an in-memory object store, for the views and dashboard.

The real engine (tick, Deployment target, Istio router, Events, Canary store) on MemoryObjects,
with a stand-in for the Deployment controller and scripted metric values, so the objects that
`kanaria status` and the dashboard read are the ones a real release writes. It runs on any
clock: simulated for unit tests, a fast system clock for the browser test.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kanaria.clock import Clock
from kanaria.engine.ports import HookPayload, Routes, World
from kanaria.engine.simulated import ScriptedObserver, ScriptedWebhooks, SimulatedRouter
from kanaria.engine.tick import advance
from kanaria.routing.istio import IstioRouter
from kanaria.spec.canary import Metric, Webhook
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import CANARY, DEPLOYMENT
from kanaria.workloads.canaries import ObjectCanaryStore
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.events import ObjectEventRecorder

SEED = Path(__file__).parents[3] / "examples" / "seed"
NAMESPACE, NAME = "test", "podinfo"
OLD_IMAGE, NEW_IMAGE = "stefanprodan/podinfo:3.1.0", "stefanprodan/podinfo:3.1.1"

PODINFO: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": NAME}},
    "spec": {
        "replicas": 2,
        "minReadySeconds": 5,
        "progressDeadlineSeconds": 60,
        "selector": {"matchLabels": {"app": NAME}},
        "template": {
            "metadata": {"labels": {"app": NAME}},
            "spec": {"containers": [{"name": "podinfod", "image": OLD_IMAGE}]},
        },
    },
}
HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": NAME, "namespace": NAMESPACE},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
        "minReplicas": 2,
        "maxReplicas": 4,
    },
}

Script = Callable[[Metric, Routes], float]


def noisy(seed: int = 7, success: float = 99.6, latency: float = 180.0) -> Script:
    """Plausible measurements: success rate near `success` %, P99 near `latency` ms."""
    rng = random.Random(seed)

    def measure(metric: Metric, routes: Routes) -> float:
        if metric.name == "request-success-rate":
            return round(min(100.0, success + rng.uniform(-0.4, 0.4)), 2)
        return round(latency * rng.uniform(0.7, 1.3), 1)

    return measure


def failing_success_rate(seed: int = 3) -> Script:
    """A canary that answers 5xx too often: success rate 90–96 %."""
    rng = random.Random(seed)
    healthy = noisy(seed)

    def measure(metric: Metric, routes: Routes) -> float:
        if metric.name == "request-success-rate":
            return round(rng.uniform(90.0, 96.0), 2)
        return healthy(metric, routes)

    return measure


async def finish_rollouts(objects: MemoryObjects) -> None:
    """What the Deployment controller would write once every rollout is done."""
    for deployment in await objects.list(DEPLOYMENT, None):
        replicas = int(deployment["spec"].get("replicas", 1))
        meta = deployment["metadata"]
        status = {
            "observedGeneration": meta["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        current = deployment.get("status") or {}
        if {key: current.get(key) for key in status} != status:
            await objects.patch_status(DEPLOYMENT, meta["namespace"], meta["name"], status)


class ObjectRelease:
    """The seed canary on MemoryObjects; `tick()` is one analysis interval of the engine.

    Several releases (in different namespaces) may share one store, as a dashboard sees them.
    """

    def __init__(
        self,
        clock: Clock,
        script: Script | None = None,
        *,
        namespace: str = NAMESPACE,
        objects: MemoryObjects | None = None,
    ) -> None:
        self.clock = clock
        self.namespace = namespace
        self.objects = objects or MemoryObjects()
        self.webhooks = ScriptedWebhooks()
        self.world = World(
            target=DeploymentTarget(self.objects, clock),
            router=IstioRouter(self.objects),
            observer=ScriptedObserver(SimulatedRouter(), script or noisy()),
            webhooks=self.webhooks,
            events=ObjectEventRecorder(self.objects, clock),
            canaries=ObjectCanaryStore(self.objects),
            clock=clock,
        )

    async def setup(self, canary: dict[str, Any] | None = None) -> None:
        """Store the Deployment, its HPA and the Canary (the seed's unless given)."""
        canary = canary or seed_canary()
        for manifest in (PODINFO, HPA, canary):
            obj = copy.deepcopy(manifest)
            obj["metadata"]["namespace"] = self.namespace
            await self.objects.create(obj)

    async def tick(self) -> None:
        await advance(self.world, self.namespace, NAME)
        await finish_rollouts(self.objects)

    async def run(self, ticks: int, until: str | None = None) -> str:
        """Tick up to `ticks` times, one analysis interval apart; stop once in phase `until`."""
        for _ in range(ticks):
            await self.tick()
            if until is not None and await self.phase() == until:
                break
            await self.clock.sleep(60)
        return await self.phase()

    async def set_image(self, image: str) -> None:
        container = {**PODINFO["spec"]["template"]["spec"]["containers"][0], "image": image}
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        await self.objects.patch(DEPLOYMENT, self.namespace, NAME, patch)

    async def canary(self) -> dict[str, Any]:
        canary = await self.objects.get(CANARY, self.namespace, NAME)
        assert canary is not None
        return canary

    async def phase(self) -> str:
        return str(((await self.canary()).get("status") or {}).get("phase"))


class TrafficGate:
    """A confirm-traffic-increase webhook's answers: approve the first steps, then hold."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, hook: Webhook, payload: HookPayload) -> bool:
        if self.steps > 0:
            self.steps -= 1
            return True
        return False


def gated_canary() -> dict[str, Any]:
    """The seed canary plus a `traffic-gate` confirm-traffic-increase webhook."""
    canary = seed_canary()
    canary["spec"]["analysis"]["webhooks"].append(
        {"name": "traffic-gate", "type": "confirm-traffic-increase", "url": "http://gate.test/"}
    )
    return canary


def seed_canary() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text())
    return document
