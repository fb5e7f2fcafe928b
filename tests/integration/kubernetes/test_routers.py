"""Every router beyond Istio on the API emulator: the operator releases podinfo 3.1.0 → 3.1.1
through the provider's own objects (HTTPRoute, canary Ingress, HTTPProxy, TraefikService, or
plain Services for `kubernetes`), and on the Canary's deletion `revertOnDeletion` hands the
user's Service its pods back and scales the target up again.

The Canaries have no metric checks, so the release runs at the fast time scale without
Prometheus: the routers are what is under test. The weights are read from every version of the
routing object the emulator stored, as a user watching it would have seen them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.kubernetes.harness import (
    CANARIES,
    DEPLOYMENTS,
    FAST,
    apply,
    config,
    events,
    operator_thread,
    phase,
    seed,
    set_image,
)
from tests.support.k8s.fixtures import EmulatedCluster, eventually

pytestmark = pytest.mark.integration

INGRESSES = "networking.k8s.io/v1/ingresses"
INGRESS_REF = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"}
USER_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898}]},
}
USER_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "podinfo", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
    "spec": {
        "rules": [
            {
                "host": "app.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "podinfo", "port": {"number": 9898}}},
                        }
                    ]
                },
            }
        ]
    },
}
CANARY_STEPS = {"stepWeight": 10, "maxWeight": 30}


def _httproute_weight(route: dict[str, Any]) -> int:
    return int(route["spec"]["rules"][0]["backendRefs"][1]["weight"])


def _proxy_weight(proxy: dict[str, Any]) -> int:
    return 100 - int(proxy["spec"]["routes"][0]["services"][0].get("weight", 0))


def _traefik_weight(service: dict[str, Any]) -> int:
    listed = service["spec"]["weighted"]["services"]
    return int(listed[1]["weight"]) if len(listed) == 2 else 0


def _nginx_weight(ingress: dict[str, Any]) -> int:
    return int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])


def _skipper_weight(ingress: dict[str, Any]) -> int:
    weights = json.loads(ingress["metadata"]["annotations"]["zalando.org/backend-weights"])
    return int(weights["podinfo-canary"])


WeightOf = Callable[[dict[str, Any]], int]

# provider → (what spec.service and spec add, the routing object, how to read its canary weight)
ROUTERS: dict[str, tuple[dict[str, Any], str, str, WeightOf]] = {
    "gatewayapi:v1": (
        {"service": {"gatewayRefs": [{"name": "public", "namespace": "gateways"}]}},
        "gateway.networking.k8s.io/v1/httproutes",
        "podinfo",
        _httproute_weight,
    ),
    "gatewayapi:v1beta1": (
        {"service": {"gatewayRefs": [{"name": "public", "namespace": "gateways"}]}},
        "gateway.networking.k8s.io/v1beta1/httproutes",
        "podinfo",
        _httproute_weight,
    ),
    "nginx": ({"ingressRef": INGRESS_REF}, INGRESSES, "podinfo-canary", _nginx_weight),
    "contour": ({}, "projectcontour.io/v1/httpproxies", "podinfo", _proxy_weight),
    "traefik": ({}, "traefik.io/v1alpha1/traefikservices", "podinfo", _traefik_weight),
    "skipper": ({"ingressRef": INGRESS_REF}, INGRESSES, "podinfo-canary", _skipper_weight),
}


def canary(provider: str, spec: dict[str, Any], analysis: dict[str, Any]) -> dict[str, Any]:
    service = {"port": 9898, "targetPort": 9898, **spec.get("service", {})}
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "provider": provider,
            "revertOnDeletion": True,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            **{key: value for key, value in spec.items() if key != "service"},
            "service": service,
            "analysis": {"interval": "1m", "threshold": 5, **analysis},
        },
    }


async def release(cluster: EmulatedCluster, manifest: dict[str, Any], *extra: Any) -> str:
    """The user's podinfo, Service (and Ingress), the Canary; a release to 3.1.1; the Canary
    deleted afterwards, all while the operator runs. Returns the primary's image as it was
    before the deletion took the primary away."""
    cluster.emulator.deployment_controller(rollout_delay=0.2)
    await apply(cluster, seed("podinfo.yaml"))
    await apply(cluster, USER_SERVICE)
    for resource, body in extra:
        await cluster.emulator.create_object(resource, body, "test")
    await apply(cluster, manifest)
    async with operator_thread(cluster, config(cluster, time_scale=FAST)):
        await eventually(lambda: phase(cluster) == "Initialized", within=20)
        await set_image(cluster, "podinfo", "stefanprodan/podinfo:3.1.1")
        await eventually(lambda: phase(cluster) == "Succeeded", within=40)
        await eventually(lambda: _promoted(cluster), within=5)
        primary = cluster.emulator.get_object(DEPLOYMENTS, "test", "podinfo-primary")
        assert primary is not None
        image = str(primary["spec"]["template"]["spec"]["containers"][0]["image"])
        await client.CustomObjectsApi(cluster.api).delete_namespaced_custom_object(
            "flagger.app", "v1beta1", "test", "canaries", "podinfo"
        )
        await eventually(lambda: cluster.emulator.get_object(CANARIES, "test", "podinfo") is None)
    return image


async def _promoted(cluster: EmulatedCluster) -> bool:
    return any("Promotion completed!" in event["message"] for event in await events(cluster))


def weights_seen(cluster: EmulatedCluster, resource: str, name: str, weight: WeightOf) -> list[int]:
    """Every canary weight the object had, repeats collapsed."""
    seen: list[int] = []
    for version in cluster.emulator.objects[resource, "test", name].history.raw:
        if version is None:
            continue
        value = weight(version.raw)
        if not seen or seen[-1] != value:
            seen.append(value)
    return seen


def assert_reverted(cluster: EmulatedCluster) -> None:
    """revertOnDeletion: the user's Service selects the target's pods, which run again."""
    service = cluster.emulator.get_object("v1/services", "test", "podinfo")
    assert service is not None
    assert service["spec"]["selector"] == {"app": "podinfo"}
    target = cluster.emulator.get_object(DEPLOYMENTS, "test", "podinfo")
    assert target is not None
    assert target["spec"]["replicas"] >= 1


@pytest.mark.parametrize("provider", sorted(ROUTERS))
async def test_a_release_through_each_router(k8s_cluster: EmulatedCluster, provider: str) -> None:
    spec, resource, name, weight = ROUTERS[provider]
    extra = [(INGRESSES, USER_INGRESS)] if "ingressRef" in spec else []
    image = await release(k8s_cluster, canary(provider, spec, CANARY_STEPS), *extra)
    assert image == "stefanprodan/podinfo:3.1.1"

    assert weights_seen(k8s_cluster, resource, name, weight) == [0, 10, 20, 30, 0]
    messages = [event["message"] for event in await events(k8s_cluster)]
    advances = [m for m in messages if "canary weight" in m]
    assert advances == [f"Advance podinfo.test canary weight {w}" for w in (10, 20, 30)]
    assert_reverted(k8s_cluster)
    canary_ingress = k8s_cluster.emulator.get_object(INGRESSES, "test", "podinfo-canary")
    assert canary_ingress is None or provider == "nginx"  # skipper deletes its own


async def test_a_blue_green_release_on_plain_services(k8s_cluster: EmulatedCluster) -> None:
    image = await release(k8s_cluster, canary("kubernetes", {}, {"iterations": 2}))
    assert image == "stefanprodan/podinfo:3.1.1"
    messages = [event["message"] for event in await events(k8s_cluster)]
    iterations = [m for m in messages if "canary iteration" in m]
    assert iterations == [f"Advance podinfo.test canary iteration {n}/2" for n in (1, 2)]
    assert not [m for m in messages if "Routing all traffic" in m]
    history = k8s_cluster.emulator.objects["v1/services", "test", "podinfo"].history.raw
    selectors = [version.raw["spec"]["selector"] for version in history if version is not None]
    # taken over for the primary's pods, never pointed at the canary, then given back
    assert selectors == [{"app": "podinfo"}, {"app": "podinfo-primary"}, {"app": "podinfo"}]
    assert_reverted(k8s_cluster)
