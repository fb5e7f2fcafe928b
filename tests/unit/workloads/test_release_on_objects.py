"""The seed release over stored objects: the real Deployment target, Istio router, Events and
Canary store on an in-memory object store, with a stand-in for the Deployment controller."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanaria.clock import SimulatedClock
from kanaria.engine.ports import World
from kanaria.engine.simulated import ScriptedObserver, ScriptedWebhooks, SimulatedRouter
from kanaria.engine.tick import advance
from kanaria.routing.istio import IstioRouter
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import (
    CANARY,
    CONFIGMAP,
    DEPLOYMENT,
    DESTINATION_RULE,
    HPA,
    SERVICE,
    VIRTUAL_SERVICE,
)
from kanaria.workloads.canaries import ObjectCanaryStore
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.events import ObjectEventRecorder, events_of

SEED = Path(__file__).parents[3] / "examples" / "seed"

PODINFO: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"}},
    "spec": {
        "minReadySeconds": 5,
        "progressDeadlineSeconds": 60,
        "selector": {"matchLabels": {"app": "podinfo"}},
        "template": {
            "metadata": {"labels": {"app": "podinfo"}},
            "spec": {
                "containers": [
                    {
                        "name": "podinfod",
                        "image": "stefanprodan/podinfo:3.1.0",
                        "envFrom": [{"configMapRef": {"name": "podinfo-config"}}],
                    }
                ]
            },
        },
    },
}
HPA_OBJECT: dict[str, Any] = {
    "apiVersion": "autoscaling/v2beta2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "minReplicas": 2,
        "maxReplicas": 4,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 99},
                },
            }
        ],
    },
}
CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "podinfo-config", "namespace": "test"},
    "data": {"color": "blue"},
}


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
        if deployment.get("status", {}).get("observedGeneration") != meta["generation"] or (
            deployment.get("status", {}).get("replicas") != replicas
        ):
            await objects.patch_status(DEPLOYMENT, meta["namespace"], meta["name"], status)


class Release:
    def __init__(self) -> None:
        self.clock = SimulatedClock()
        self.objects = MemoryObjects()
        router = IstioRouter(self.objects)
        self.webhooks = ScriptedWebhooks()
        self.world = World(
            target=DeploymentTarget(self.objects, self.clock),
            router=router,
            observer=ScriptedObserver(SimulatedRouter()),
            webhooks=self.webhooks,
            events=ObjectEventRecorder(self.objects, self.clock),
            canaries=ObjectCanaryStore(self.objects),
            clock=self.clock,
        )

    async def setup(self) -> None:
        await self.objects.create(copy.deepcopy(CONFIG))
        await self.objects.create(copy.deepcopy(PODINFO))
        await self.objects.create(copy.deepcopy(HPA_OBJECT))
        canary = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text())
        await self.objects.create(canary)

    async def tick(self, count: int = 1, ready: bool = True) -> None:
        for _ in range(count):
            await advance(self.world, "test", "podinfo")
            if ready:
                await finish_rollouts(self.objects)
            self.clock.advance(60)

    async def get(self, kind: Any, name: str) -> dict[str, Any]:
        found = await self.objects.get(kind, "test", name)
        assert found is not None, f"{kind.kind} {name} missing"
        return found

    async def phase(self) -> str:
        return str((await self.get(CANARY, "podinfo")).get("status", {}).get("phase"))

    async def weights(self) -> tuple[int, int]:
        vs = await self.get(VIRTUAL_SERVICE, "podinfo")
        route = vs["spec"]["http"][0]["route"]
        return route[0]["weight"], route[1]["weight"]


@pytest.fixture
async def release() -> Release:
    release = Release()
    await release.setup()
    return release


async def test_initialization_creates_primary_services_and_istio_objects(release: Release) -> None:
    await release.tick(2)
    assert await release.phase() == "Initialized"
    primary = await release.get(DEPLOYMENT, "podinfo-primary")
    assert primary["spec"]["selector"]["matchLabels"] == {"app": "podinfo-primary"}
    template = primary["spec"]["template"]
    assert template["metadata"]["labels"]["app"] == "podinfo-primary"
    assert template["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "podinfo-config-primary"}}
    ]
    assert (await release.get(CONFIGMAP, "podinfo-config-primary"))["data"] == {"color": "blue"}
    assert (await release.get(DEPLOYMENT, "podinfo"))["spec"]["replicas"] == 0
    primary_hpa = await release.get(HPA, "podinfo-primary")
    assert primary_hpa["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert primary_hpa["spec"]["minReplicas"] == 2
    services = {
        name: (await release.get(SERVICE, name))["spec"]["selector"]
        for name in ("podinfo", "podinfo-primary", "podinfo-canary")
    }
    assert services == {
        "podinfo": {"app": "podinfo-primary"},
        "podinfo-primary": {"app": "podinfo-primary"},
        "podinfo-canary": {"app": "podinfo"},
    }
    vs = await release.get(VIRTUAL_SERVICE, "podinfo")
    assert vs["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local"]
    assert vs["spec"]["hosts"] == ["*"]
    assert vs["spec"]["http"][0]["retries"] == {
        "attempts": 3,
        "perTryTimeout": "1s",
        "retryOn": "gateway-error,connect-failure,refused-stream",
    }
    assert await release.weights() == (100, 0)
    assert (await release.get(DESTINATION_RULE, "podinfo-canary"))["spec"] == {
        "host": "podinfo-canary",
        "trafficPolicy": {"tls": {"mode": "DISABLE"}},
    }


async def test_seed_release_over_objects(release: Release) -> None:
    await release.tick(1, ready=False)  # the primary has not rolled out yet
    await finish_rollouts(release.objects)
    await release.tick(2)
    await release.objects.patch(
        DEPLOYMENT,
        "test",
        "podinfo",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                **PODINFO["spec"]["template"]["spec"]["containers"][0],
                                "image": "stefanprodan/podinfo:3.1.1",
                            }
                        ]
                    }
                }
            }
        },
    )
    seen = []
    for _ in range(12):
        await release.tick()
        seen.append(await release.weights())
        if await release.phase() == "Succeeded":
            break
    assert await release.phase() == "Succeeded"
    assert [canary for _, canary in seen] == [0, 10, 20, 30, 40, 50, 50, 0, 0]
    primary = await release.get(DEPLOYMENT, "podinfo-primary")
    assert (
        primary["spec"]["template"]["spec"]["containers"][0]["image"]
        == "stefanprodan/podinfo:3.1.1"
    )
    assert (await release.get(DEPLOYMENT, "podinfo"))["spec"]["replicas"] == 0

    events = await events_of(release.objects, await release.get(CANARY, "podinfo"))
    table = [(e["type"], e["count"], e["message"]) for e in events]
    assert table == [
        (
            "Warning",
            1,
            "podinfo-primary.test not ready: waiting for rollout to finish: observed deployment "
            "generation less then desired generation",
        ),
        ("Normal", 2, "all the metrics providers are available!"),
        ("Normal", 1, "Initialization done! podinfo.test"),
        ("Normal", 1, "New revision detected! Scaling up podinfo.test"),
        ("Normal", 1, "Starting canary analysis for podinfo.test"),
        ("Normal", 1, "Pre-rollout check acceptance-test passed"),
        ("Normal", 1, "Advance podinfo.test canary weight 10"),
        ("Normal", 1, "Advance podinfo.test canary weight 20"),
        ("Normal", 1, "Advance podinfo.test canary weight 30"),
        ("Normal", 1, "Advance podinfo.test canary weight 40"),
        (
            "Normal",
            4,
            "(combined from similar events): Promotion completed! Scaling down podinfo.test",
        ),
    ]


async def test_config_change_starts_a_release_and_promotion_copies_it(release: Release) -> None:
    await release.tick(3)
    await release.objects.patch(CONFIGMAP, "test", "podinfo-config", {"data": {"color": "green"}})
    await release.tick()
    assert await release.phase() == "Progressing"
    for _ in range(10):
        await release.tick()
    assert await release.phase() == "Succeeded"
    assert (await release.get(CONFIGMAP, "podinfo-config-primary"))["data"] == {"color": "green"}


async def test_weights_survive_a_reconcile(release: Release) -> None:
    await release.tick(3)
    await release.objects.patch(
        DEPLOYMENT,
        "test",
        "podinfo",
        {"spec": {"template": {"metadata": {"annotations": {"release": "2"}}}}},
    )
    await release.tick(3)
    assert await release.weights() == (80, 20)
    await release.world.router.reconcile(await release.world.canaries.get("test", "podinfo"))  # type: ignore[arg-type]
    assert await release.weights() == (80, 20)
