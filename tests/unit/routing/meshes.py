"""What the mesh routers' unit tests share: Flagger's own router-test fixtures, as YAML-shaped
dicts, and a release run by the real engine over the in-memory store with a real router.

The fixtures are the ones in Flagger's `pkg/router/router_test.go` (flagger-routers.md §7-§16
says what each router test expects of them); a test compares kanaria's objects for the same
Canary with those expectations. `MeshRelease` drives the engine tick by tick on simulated time,
rolls Deployments out as their controller would, and plays Knative Serving for Knative
Services, so a test can read the routing objects after each tick as a user would.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from kanaria.clock import SimulatedClock
from kanaria.engine.ports import Target, World
from kanaria.engine.simulated import ScriptedObserver, ScriptedWebhooks, SimulatedRouter
from kanaria.engine.tick import advance
from kanaria.routing.base import Router
from kanaria.spec.canary import Canary
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import CANARY, DEPLOYMENT, KNATIVE_REVISION, KNATIVE_SERVICE, Object
from kanaria.workloads.canaries import ObjectCanaryStore
from kanaria.workloads.deployment import DeploymentTarget
from kanaria.workloads.events import ObjectEventRecorder, events_of
from kanaria.workloads.knative import KnativeServiceTarget
from tests.support import knative

Document = dict[str, Any]
Weights = Callable[[MemoryObjects], Awaitable[tuple[int, int]]]

# -- Flagger's fixtures (pkg/router/router_test.go) -------------------------------------------

ANALYSIS = {
    "threshold": 10,
    "stepWeight": 10,
    "maxWeight": 50,
    "metrics": [
        {"name": "request-success-rate", "threshold": 99, "interval": "1m"},
        {"name": "request-duration", "threshold": 500, "interval": "1m"},
    ],
}


def flagger_canary(name: str = "podinfo", target: str = "podinfo", **spec: Any) -> Document:
    """A Canary in `default`, as Flagger's router tests build them."""
    body: Document = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "analysis": copy.deepcopy(ANALYSIS),
    }
    body.update(copy.deepcopy(spec))
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": "default"},
        "spec": body,
    }


def istio_canary() -> Document:
    """`newTestCanary`, the fixture most router tests share (Gloo's among them)."""
    return flagger_canary(
        service={
            "port": 9898,
            "portDiscovery": True,
            "appProtocol": "http",
            "headers": {
                "request": {
                    "add": {"x-envoy-upstream-rq-timeout-ms": "15000"},
                    "remove": ["test"],
                },
                "response": {"remove": ["token"]},
            },
            "corsPolicy": {"allowMethods": ["GET", "POST"]},
            "match": [
                {
                    "name": "podinfo",
                    "uri": {"prefix": "/podinfo"},
                    "method": {"exact": "GET"},
                    "ignoreUriCase": True,
                }
            ],
            "retries": {
                "attempts": 10,
                "perTryTimeout": "30s",
                "retryOn": "connect-failure,gateway-error",
            },
            "gateways": ["istio/public-gateway", "mesh"],
        }
    )


def smi_canary() -> Document:
    """`newTestSMICanary`: service podinfo, port 80, targetPort 9898."""
    return flagger_canary(
        service={
            "name": "podinfo",
            "port": 80,
            "portName": "http",
            "targetPort": 9898,
            "portDiscovery": True,
        }
    )


def appmesh_canary() -> Document:
    """`newTestCanaryAppMesh`: access log on, mesh `global`, hosts `*`, a backend, 30s timeout,
    5 retries (Flagger's fixture swaps perTryTimeout and retryOn; kept as it is)."""
    document = flagger_canary(
        name="appmesh",
        service={
            "port": 9898,
            "meshName": "global",
            "hosts": ["*"],
            "backends": ["backend.default"],
            "timeout": "30s",
            "retries": {"attempts": 5, "perTryTimeout": "gateway-error", "retryOn": "5s"},
        },
    )
    document["metadata"]["annotations"] = {"appmesh.flagger.app/accesslog": "enabled"}
    return document


def abtest_canary() -> Document:
    """`newTestABTest`: target `abtest`, iterations 2, header `x-user-type: exact test`."""
    document = flagger_canary(
        name="abtest", target="abtest", service={"port": 9898, "meshName": "global"}
    )
    analysis = document["spec"]["analysis"]
    del analysis["stepWeight"], analysis["maxWeight"]
    analysis |= {"iterations": 2, "match": [{"headers": {"x-user-type": {"exact": "test"}}}]}
    return document


def knative_canary() -> Document:
    """`newTestKnativeCanary`: a Knative Service target, no `service`."""
    document = flagger_canary(provider="knative")
    document["spec"]["targetRef"] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "podinfo",
    }
    return document


def deployment(name: str, namespace: str = "default", image: str = "podinfo:test") -> Object:
    """`newTestDeployment` / `newTestABTestDeployment`: selector `app: <name>`, port 9898."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "podinfo",
                            "image": f"stefanprodan/{image}",
                            "ports": [{"name": "http", "containerPort": 9898}],
                        }
                    ]
                },
            },
        },
    }


def knative_service(name: str = "podinfo", namespace: str = "default") -> Object:
    """`newTestKnativeService`: one container; Knative's revision comes with the first sync."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "podinfo", "image": "quay.io/stefanprodan/podinfo:1.2.0"}
                    ]
                }
            }
        },
    }


def parsed(document: Document, namespace: str | None = None) -> Canary:
    canary = Canary.model_validate(document)
    if namespace:
        canary.metadata.namespace = namespace
    return canary


async def stored(objects: MemoryObjects, *documents: Object) -> None:
    for document in documents:
        await objects.create(copy.deepcopy(document))


# -- what the cluster's controllers would do --------------------------------------------------


async def finish_rollouts(objects: MemoryObjects) -> None:
    """Every Deployment rolled out, as its controller would report."""
    for found in await objects.list(DEPLOYMENT, None):
        meta, replicas = found["metadata"], int(found["spec"].get("replicas", 1))
        status = {
            "observedGeneration": meta["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        if found.get("status") != status:
            await objects.patch_status(DEPLOYMENT, meta["namespace"], meta["name"], status)


async def serve_knative(objects: MemoryObjects) -> None:
    """Knative Serving: a Revision per new template, and the traffic applied."""
    for service in await objects.list(KNATIVE_SERVICE, None):
        meta = service["metadata"]
        revision = knative.new_revision(service, await objects.list(KNATIVE_REVISION, None))
        latest = (service.get("status") or {}).get("latestCreatedRevisionName")
        if revision is not None:
            await objects.create(revision)
            name = revision["metadata"]["name"]
            await objects.patch_status(
                KNATIVE_REVISION, meta["namespace"], name, knative.revision_status()
            )
            latest = name
        status = knative.service_status(service, str(latest))
        if service.get("status") != status:
            await objects.patch_status(KNATIVE_SERVICE, meta["namespace"], meta["name"], status)


# -- a release on the in-memory store ----------------------------------------------------------


class MeshRelease:
    """The engine, a real router and target over `MemoryObjects`, one tick per interval."""

    def __init__(self, router: Callable[[MemoryObjects], Router], document: Document) -> None:
        self.clock = SimulatedClock()
        self.objects = MemoryObjects()
        self.document = copy.deepcopy(document)
        self.namespace = document["metadata"].get("namespace", "default")
        self.name = document["metadata"]["name"]
        knative_target = document["spec"].get("provider") == "knative"
        target: Target = (
            KnativeServiceTarget(self.objects)
            if knative_target
            else DeploymentTarget(self.objects, self.clock)
        )
        self.world = World(
            target=target,
            router=router(self.objects),
            observer=ScriptedObserver(SimulatedRouter()),
            webhooks=ScriptedWebhooks(),
            events=ObjectEventRecorder(self.objects, self.clock),
            canaries=ObjectCanaryStore(self.objects),
            clock=self.clock,
        )

    async def setup(self, *objects: Object) -> MeshRelease:
        await stored(self.objects, *objects, self.document)
        await self.controllers()
        return self

    async def controllers(self) -> None:
        await finish_rollouts(self.objects)
        await serve_knative(self.objects)

    async def tick(self, count: int = 1) -> None:
        for _ in range(count):
            await advance(self.world, self.namespace, self.name)
            await self.controllers()
            self.clock.advance(60)

    async def canary(self) -> Canary:
        found = await self.world.canaries.get(self.namespace, self.name)
        assert found is not None
        return found

    async def phase(self) -> str:
        found = await self.objects.get(CANARY, self.namespace, self.name)
        assert found is not None
        return str((found.get("status") or {}).get("phase"))

    async def messages(self) -> list[str]:
        found = await self.objects.get(CANARY, self.namespace, self.name)
        assert found is not None
        return [event["message"] for event in await events_of(self.objects, found)]

    async def release(
        self, change: Callable[[], Awaitable[None]], weights: Weights, limit: int = 20
    ) -> list[tuple[int, int]]:
        """Initialize, make a new revision with `change`, tick to Succeeded; the weights read
        off the routing objects after every tick of the release, repeats collapsed."""
        for _ in range(limit):
            await self.tick()
            if await self.phase() == "Initialized":
                break
        assert await self.phase() == "Initialized", await self.messages()
        await change()
        seen: list[tuple[int, int]] = []
        for _ in range(limit):
            await self.tick()
            now = await weights(self.objects)
            if not seen or seen[-1] != now:
                seen.append(now)
            if await self.phase() == "Succeeded":
                return seen
        raise AssertionError(f"not promoted after {limit} ticks: {await self.messages()}")

    async def new_image(self, image: str = "podinfo:2.0.0") -> None:
        """A new revision of the target Deployment (or Knative Service)."""
        kind = KNATIVE_SERVICE if self.document["spec"].get("provider") == "knative" else DEPLOYMENT
        name = self.document["spec"]["targetRef"]["name"]
        found = await self.objects.get(kind, self.namespace, name)
        assert found is not None
        found["spec"]["template"]["spec"]["containers"][0]["image"] = f"stefanprodan/{image}"
        await self.objects.replace(found)


def release_document(provider: str, **analysis: Any) -> Document:
    """A small Canary for a release: podinfo in `test`, checks that pass, 3 steps of 10 %."""
    document = flagger_canary(provider=provider, service={"port": 9898, "targetPort": 9898})
    document["metadata"]["namespace"] = "test"
    document["spec"]["analysis"] = {
        "interval": "1m",
        "threshold": 2,
        "maxWeight": 30,
        "stepWeight": 10,
        "metrics": [
            {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}
        ],
    }
    if analysis:
        for key in ("maxWeight", "stepWeight"):
            document["spec"]["analysis"].pop(key)
        document["spec"]["analysis"].update(analysis)
    return document


BLUE_GREEN = {"iterations": 2}
A_B_TESTING = {"iterations": 2, "match": [{"headers": {"x-user-type": {"exact": "test"}}}]}
MIRRORING = {"iterations": 2, "mirror": True}
SESSION_AFFINITY = {"stepWeight": 10, "maxWeight": 30, "sessionAffinity": {"cookieName": "flagger"}}
