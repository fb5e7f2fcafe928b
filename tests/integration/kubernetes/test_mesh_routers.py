"""A whole release per mesh router, by the operator on the API emulator, and revertOnDeletion.

For each provider of docs/routers.md's second half (linkerd, smi:*, osm, gloo, kuma, apisix,
knative, appmesh, appmesh:v1beta2) the seed's podinfo (or a Knative Service) is released with a
canary Canary without metric checks: the operator must create the provider's objects, move their
weights 10 → 20 → 30 → back to the promoted primary, and, when the Canary is deleted, hand
things back as they were. The weights are read from every version the emulator stored of the
routing object, as a user watching it would have seen them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.kubernetes.harness import (
    CANARIES,
    DEPLOYMENTS,
    QUICK,
    config,
    operator_thread,
    phase,
    renamed,
    seed,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually
from tests.support.k8s.knative import KnativeServing

pytestmark = pytest.mark.integration

TIME_SCALE = 600.0  # one analysis interval (1m) every 0.1 s: nothing here waits on Prometheus
RELEASE = [0, 10, 20, 30, 0]

Reader = Callable[[dict[str, Any]], int | None]
"""The canary weight an object version shows, None when it has none (e.g. before takeover)."""


def by_name(entries: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, int]:
    return {key(entry): int(entry.get("weight") or 0) for entry in entries}


def split_weight(obj: dict[str, Any]) -> int | None:
    return by_name(obj["spec"].get("backends") or [], lambda b: b["service"]).get("podinfo-canary")


def route_table_weight(obj: dict[str, Any]) -> int | None:
    destinations = obj["spec"]["routes"][0].get("routeAction", {}).get("multi", {})
    weights = by_name(
        destinations.get("destinations") or [], lambda d: d["destination"]["upstream"]["name"]
    )
    return weights.get("test-podinfo-canaryupstream-9898")


def traffic_route_weight(obj: dict[str, Any]) -> int | None:
    splits = obj["spec"]["conf"]["split"]
    return by_name(splits, lambda s: s["destination"]["kuma.io/service"]).get(
        "podinfo-canary_test_svc_9898"
    )


def apisix_weight(obj: dict[str, Any]) -> int | None:
    return by_name(obj["spec"]["http"][0]["backends"], lambda b: b["serviceName"]).get(
        "podinfo-canary"
    )


def knative_weight(obj: dict[str, Any]) -> int | None:
    latest = [t for t in obj["spec"].get("traffic") or [] if t.get("latestRevision")]
    return int(latest[0]["percent"]) if latest else None


def virtual_router_weight(obj: dict[str, Any]) -> int | None:
    targets = obj["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"]
    return by_name(targets, lambda t: t["virtualNodeRef"]["name"]).get("podinfo-canary")


def v1beta1_service_weight(obj: dict[str, Any]) -> int | None:
    targets = obj["spec"]["routes"][0]["http"]["action"]["weightedTargets"]
    return by_name(targets, lambda t: t["virtualNodeName"]).get("podinfo-canary")


@dataclass(frozen=True)
class Case:
    """A provider, the object that carries its weights, and what a deletion leaves of it."""

    provider: str
    resource: str
    name: str
    weight: Reader
    namespace: str | None = "test"
    before: dict[str, Any] | None = None  # a spec that was there before kanaria
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    service: dict[str, Any] = field(default_factory=dict)


APISIX_ROUTE = {
    "metadata": {"name": "podinfo"},
    "spec": {
        "http": [
            {
                "name": "main",
                "match": {"hosts": ["app.example.com"], "paths": ["/*"]},
                "backends": [{"serviceName": "podinfo", "servicePort": 9898}],
            }
        ]
    },
}
SPLIT_BEFORE = {"service": "podinfo", "backends": [{"service": "podinfo-v1", "weight": 100}]}
TABLE_BEFORE = {"routes": [{"routeAction": {"single": {"upstream": {"name": "legacy"}}}}]}

CASES = [
    Case("linkerd", "split.smi-spec.io/v1alpha1/trafficsplits", "podinfo", split_weight,
         before=SPLIT_BEFORE),
    Case("smi:v1alpha1", "split.smi-spec.io/v1alpha1/trafficsplits", "podinfo", split_weight),
    Case("osm", "split.smi-spec.io/v1alpha2/trafficsplits", "podinfo", split_weight),
    Case("smi:v1alpha2", "split.smi-spec.io/v1alpha2/trafficsplits", "podinfo", split_weight),
    Case("smi:v1alpha3", "split.smi-spec.io/v1alpha3/trafficsplits", "podinfo", split_weight,
         before=SPLIT_BEFORE),
    Case("gloo", "gateway.solo.io/v1/routetables", "podinfo", route_table_weight,
         before=TABLE_BEFORE),
    Case("kuma", "kuma.io/v1alpha1/trafficroutes", "podinfo", traffic_route_weight,
         namespace=None),
    Case("apisix", "apisix.apache.org/v2/apisixroutes", "podinfo-podinfo-canary", apisix_weight,
         extra=[("apisix.apache.org/v2/apisixroutes", APISIX_ROUTE)]),
    Case("knative", "serving.knative.dev/v1/services", "podinfo", knative_weight),
    Case("appmesh:v1beta2", "appmesh.k8s.aws/v1beta2/virtualrouters", "podinfo",
         virtual_router_weight),
    Case("appmesh", "appmesh.k8s.aws/v1beta1/virtualservices", "podinfo.test",
         v1beta1_service_weight, service={"meshName": "global"}),
]  # fmt: skip


def canary_manifest(case: Case) -> dict[str, Any]:
    canary = copy.deepcopy(seed("podinfo-canary.yaml"))
    spec = canary["spec"]
    del spec["autoscalerRef"]
    spec["provider"] = case.provider
    spec["revertOnDeletion"] = True
    spec["service"] = {"port": 9898, "targetPort": 9898, **case.service}
    spec["analysis"] |= QUICK | {"maxWeight": 30}
    if case.provider == "apisix":
        spec["routeRef"] = {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
                            "name": "podinfo"}  # fmt: skip
    if case.provider == "knative":
        spec["targetRef"] = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                             "name": "podinfo"}  # fmt: skip
        del spec["service"]
    return canary


KNATIVE_SERVICE = {
    "metadata": {"name": "podinfo"},
    "spec": {"template": {"spec": {"containers": [
        {"name": "podinfod", "image": "stefanprodan/podinfo:3.1.0"}
    ]}}},
}  # fmt: skip


async def apply_case(cluster: EmulatedCluster, case: Case) -> None:
    emulator = cluster.emulator
    if case.provider == "knative":
        emulator.spawn(KnativeServing(emulator).run())
        await emulator.create_object("serving.knative.dev/v1/services", KNATIVE_SERVICE, "test")
    else:
        emulator.deployment_controller(rollout_delay=0.05)
        workload = renamed(seed("podinfo.yaml"), "podinfo")
        workload["metadata"].pop("namespace")
        await emulator.create_object(DEPLOYMENTS, workload, "test")
    for resource, body in case.extra:
        await emulator.create_object(resource, copy.deepcopy(body), "test")
    if case.before is not None:
        before = {"metadata": {"name": case.name}, "spec": copy.deepcopy(case.before)}
        await emulator.create_object(case.resource, before, case.namespace)
    manifest = canary_manifest(case)
    manifest["metadata"].pop("namespace")
    await emulator.create_object(CANARIES, manifest, "test")


async def new_revision(cluster: EmulatedCluster, case: Case) -> None:
    if case.provider != "knative":
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        return
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "podinfod", "image": "stefanprodan/podinfo:3.1.1"}
    ]}}}}  # fmt: skip
    await client.CustomObjectsApi(cluster.api).patch_namespaced_custom_object(  # type: ignore[call-arg]
        "serving.knative.dev", "v1", "test", "services", "podinfo", patch,
        _content_type="application/merge-patch+json",
    )  # fmt: skip


def canary_weights(cluster: EmulatedCluster, case: Case) -> list[int]:
    """Every canary weight the routing object ever had, repeats collapsed."""
    stored = cluster.emulator.objects[case.resource, case.namespace, case.name]
    weights: list[int] = []
    for version in stored.history.raw:
        weight = None if version is None else case.weight(version.raw)
        if weight is not None and (not weights or weights[-1] != weight):
            weights.append(weight)
    return weights


async def delete_canary(cluster: EmulatedCluster) -> None:
    await client.CustomObjectsApi(cluster.api).delete_namespaced_custom_object(
        "flagger.app", "v1beta1", "test", "canaries", "podinfo"
    )


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
async def test_a_release_and_a_revert(k8s_cluster: EmulatedCluster, case: Case) -> None:
    cluster, emulator = k8s_cluster, k8s_cluster.emulator
    await apply_case(cluster, case)
    async with operator_thread(cluster, config(cluster, time_scale=TIME_SCALE)):
        await eventually(lambda: phase(cluster) == "Initialized", within=15)
        await new_revision(cluster, case)
        await eventually(lambda: phase(cluster) == "Succeeded", within=20)
        released = canary_weights(cluster, case)
        await delete_canary(cluster)
        await eventually(
            lambda: emulator.get_object(CANARIES, "test", "podinfo") is None, within=10
        )
        await eventually(lambda: _reverted(cluster, case), within=10)

    assert released == RELEASE, f"{case.provider}: {released}"


def _reverted(cluster: EmulatedCluster, case: Case) -> bool:
    """What revertOnDeletion leaves: the routing object as it was before kanaria (or gone),
    and the target serving again."""
    emulator = cluster.emulator
    left = emulator.get_object(case.resource, case.namespace, case.name)
    if case.provider == "knative":
        annotations = (left or {}).get("metadata", {}).get("annotations") or {}
        return (
            left is not None
            and "traffic" not in left["spec"]
            and not annotations.get("flagger.app/primary-revision")
        )
    if case.provider == "apisix":
        source = emulator.get_object("apisix.apache.org/v2/apisixroutes", "test", "podinfo")
        assert source is not None
        assert source["spec"] == APISIX_ROUTE["spec"]
    target = emulator.get_object(DEPLOYMENTS, "test", "podinfo") or {}
    if not target.get("spec", {}).get("replicas"):
        return False
    if case.before is not None:
        return left is not None and left["spec"] == case.before
    return left is None  # owned by the Canary (garbage-collected) or, for Kuma, deleted
