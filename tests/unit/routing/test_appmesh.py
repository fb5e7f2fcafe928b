"""The App Mesh routers (`appmesh:v1beta2` and `appmesh`, v1beta1): Flagger's appmesh*_test.go
expectations, releases per strategy on the in-memory store, refusals, and revertOnDeletion."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.routing.appmesh import AppMeshRouter
from kanaria.routing.appmesh_v1beta1 import AppMeshV1beta1Router
from kanaria.routing.base import Routes
from kanaria.routing.managed import ORIGINAL_ANNOTATION
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import (
    APPMESH_V1BETA1_VIRTUAL_NODE,
    APPMESH_V1BETA1_VIRTUAL_SERVICE,
    APPMESH_VIRTUAL_NODE,
    APPMESH_VIRTUAL_ROUTER,
    APPMESH_VIRTUAL_SERVICE,
    Kind,
)
from tests.unit.routing.meshes import (
    A_B_TESTING,
    BLUE_GREEN,
    MIRRORING,
    SESSION_AFFINITY,
    MeshRelease,
    abtest_canary,
    appmesh_canary,
    deployment,
    parsed,
    release_document,
    stored,
)

ARN = "arn:aws:appmesh:eu-west-1:12345678910:mesh/my-mesh/virtualService/mytestservice"


async def get(objects: MemoryObjects, kind: Kind, name: str, ns: str = "default") -> Any:
    found = await objects.get(kind, ns, name)
    assert found is not None, f"{kind.kind} {name} missing"
    return found


async def setup(
    router: type[AppMeshRouter] | type[AppMeshV1beta1Router],
) -> tuple[MemoryObjects, Any]:
    objects = MemoryObjects()
    await stored(objects, deployment("podinfo"), deployment("abtest"))
    return objects, router(objects)


def with_backends(*more: str) -> Any:
    document = appmesh_canary()
    document["spec"]["service"]["backends"] += list(more)
    return parsed(document)


# -- Flagger's tests (appmesh_v1beta2_test.go) ----------------------------------------------------


async def test_v1beta2_reconcile_as_flagger() -> None:
    objects, router = await setup(AppMeshRouter)
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    await get(objects, APPMESH_VIRTUAL_SERVICE, "podinfo")
    await get(objects, APPMESH_VIRTUAL_SERVICE, "podinfo-canary")
    apex = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")
    assert len(apex["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"]) == 2
    to_canary = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo-canary")
    target = to_canary["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"][0]
    assert target == {"virtualNodeRef": {"name": "podinfo-canary"}, "weight": 100}
    primary = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-primary")
    assert primary["spec"]["logging"] == {"accessLog": {"file": {"path": "/dev/stdout"}}}
    dns = primary["spec"]["serviceDiscovery"]["dns"]["hostname"]
    assert dns == "podinfo-primary.default.svc.cluster.local."
    assert apex["spec"]["routes"][0]["httpRoute"]["timeout"]["perRequest"]["value"] == 30000
    listener = primary["spec"]["listeners"][0]
    assert listener["timeout"]["http"]["perRequest"] == {"unit": "ms", "value": 30000}

    await router.reconcile(with_backends("test.example.com", ARN))
    primary = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-primary")
    assert primary["spec"]["backends"] == [
        {"virtualService": {"virtualServiceRef": {"name": "backend.default"}}},
        {"virtualService": {"virtualServiceRef": {"name": "test.example.com"}}},
        {"virtualService": {"virtualServiceARN": ARN}},
    ]

    apex["spec"]["routes"][0]["httpRoute"]["match"]["prefix"] = "api"
    await objects.replace(apex)
    await router.reconcile(canary)
    apex = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")
    assert apex["spec"]["routes"][0]["httpRoute"]["match"]["prefix"] == "/"


async def test_v1beta2_get_set_routes_as_flagger() -> None:
    _objects, router = await setup(AppMeshRouter)
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(60, 40))
    assert await router.get_routes(canary) == Routes(60, 40, False)


async def test_v1beta2_ab_test_as_flagger() -> None:
    objects, router = await setup(AppMeshRouter)
    await router.reconcile(parsed(abtest_canary()))
    routes = (await get(objects, APPMESH_VIRTUAL_ROUTER, "abtest"))["spec"]["routes"]
    assert [(route["name"], route["priority"]) for route in routes] == [
        ("abtest-a", 10),
        ("abtest-b", 20),
    ]
    assert routes[0]["httpRoute"]["match"]["headers"] == [
        {"name": "x-user-type", "match": {"exact": "test"}}
    ]
    assert routes[1]["httpRoute"]["action"]["weightedTargets"] == [
        {"virtualNodeRef": {"name": "abtest-primary"}, "weight": 100}
    ]


async def test_v1beta2_gateway_annotations_as_flagger() -> None:
    objects, router = await setup(AppMeshRouter)
    await router.reconcile(parsed(appmesh_canary()))
    annotations = (await get(objects, APPMESH_VIRTUAL_SERVICE, "podinfo"))["metadata"][
        "annotations"
    ]
    assert annotations == {
        "gateway.appmesh.k8s.aws/expose": "true",
        "gateway.appmesh.k8s.aws/domain": "*,",
        "gateway.appmesh.k8s.aws/timeout": "30s",
        "gateway.appmesh.k8s.aws/retries": "5",
    }
    canary_service = await get(objects, APPMESH_VIRTUAL_SERVICE, "podinfo-canary")
    assert "annotations" not in canary_service["metadata"]


# -- v1beta2 objects in detail --------------------------------------------------------------------


async def test_v1beta2_nodes_select_the_pods_and_routers_retry_as_the_canary_says() -> None:
    objects, router = await setup(AppMeshRouter)
    await router.reconcile(parsed(appmesh_canary()))
    primary = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-primary")
    canary = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-canary")
    assert primary["spec"]["podSelector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert canary["spec"]["podSelector"] == {"matchLabels": {"app": "podinfo"}}
    assert primary["spec"]["listeners"][0]["portMapping"] == {"port": 9898, "protocol": "http"}
    assert await objects.get(APPMESH_VIRTUAL_NODE, "default", "podinfo") is None  # no apex node
    route = (await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo"))["spec"]["routes"][0]
    # Flagger's fixture swaps perTryTimeout and retryOn: 250 ms and the event "5s" result
    assert route["httpRoute"]["retryPolicy"] == {
        "maxRetries": 5,
        "perRetryTimeout": {"unit": "ms", "value": 250},
        "httpRetryEvents": ["5s"],
    }
    annotations = primary["metadata"]["annotations"]
    assert annotations["helm.toolkit.fluxcd.io/driftDetection"] == "disabled"


async def test_v1beta2_reconcile_keeps_weights_and_aws_names() -> None:
    objects, router = await setup(AppMeshRouter)
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(70, 30))
    apex = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")
    apex["spec"] |= {"awsName": "podinfo_default", "meshRef": {"name": "global", "uid": "1"}}
    apex["spec"]["routes"][0]["httpRoute"]["match"]["prefix"] = "/changed"
    await objects.replace(apex)
    await router.reconcile(canary)
    apex = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")
    assert apex["spec"]["awsName"] == "podinfo_default"
    assert apex["spec"]["routes"][0]["httpRoute"]["match"]["prefix"] == "/"
    assert await router.get_routes(canary) == Routes(70, 30)


async def test_grpc_port_names_and_a_prefix_from_the_service_match() -> None:
    objects, router = await setup(AppMeshRouter)
    document = appmesh_canary()
    document["spec"]["service"] |= {
        "portName": "grpc-web",
        "targetPort": 9999,
        "match": [{"uri": {"prefix": "/api"}}],
    }
    await router.reconcile(parsed(document))
    apex = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")
    assert apex["spec"]["listeners"] == [{"portMapping": {"port": 9999, "protocol": "grpc"}}]
    assert apex["spec"]["routes"][0]["httpRoute"]["match"] == {"prefix": "/api"}


# -- Flagger's tests (appmesh_test.go, v1beta1) ---------------------------------------------------


async def test_v1beta1_reconcile_as_flagger() -> None:
    objects, router = await setup(AppMeshV1beta1Router)
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    apex = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo.default")
    assert apex["spec"]["meshName"] == "global"
    assert apex["spec"]["virtualRouter"]["name"] == "podinfo"
    assert len(apex["spec"]["routes"][0]["http"]["action"]["weightedTargets"]) == 2
    to_canary = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo-canary.default")
    target = to_canary["spec"]["routes"][0]["http"]["action"]["weightedTargets"][0]
    assert target == {"virtualNodeName": "podinfo-canary", "weight": 100}
    primary = await get(objects, APPMESH_V1BETA1_VIRTUAL_NODE, "podinfo-primary")
    assert primary["spec"]["serviceDiscovery"]["dns"]["hostName"] == "podinfo-primary.default"
    node = await get(objects, APPMESH_V1BETA1_VIRTUAL_NODE, "podinfo")  # apex node, primary host
    assert node["spec"]["serviceDiscovery"]["dns"]["hostName"] == "podinfo-primary.default"

    await router.reconcile(with_backends("test.example.com"))
    canary_node = await get(objects, APPMESH_V1BETA1_VIRTUAL_NODE, "podinfo-canary")
    assert canary_node["spec"]["backends"] == [
        {"virtualService": {"virtualServiceName": "backend.default"}},
        {"virtualService": {"virtualServiceName": "test.example.com"}},
    ]

    await router.set_routes(canary, Routes(50, 50))
    apex = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo.default")
    apex["spec"]["routes"][0]["http"]["match"]["prefix"] = "api"
    await objects.replace(apex)
    await router.reconcile(canary)
    apex = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo.default")
    assert apex["spec"]["routes"][0]["http"]["match"]["prefix"] == "/"
    assert apex["spec"]["routes"][0]["http"]["action"]["weightedTargets"][0]["weight"] == 50


async def test_v1beta1_routes_ab_test_and_gateway_as_flagger() -> None:
    objects, router = await setup(AppMeshV1beta1Router)
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    await router.set_routes(canary, Routes(60, 40))
    assert await router.get_routes(canary) == Routes(60, 40, False)
    apex = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo.default")
    assert apex["metadata"]["annotations"]["gateway.appmesh.k8s.aws/domain"] == "*,"
    await router.reconcile(parsed(abtest_canary()))
    routes = (await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "abtest.default"))["spec"]
    header = routes["routes"][0]["http"]["match"]["headers"][0]
    assert header == {"name": "x-user-type", "match": {"exact": "test"}}


async def test_v1beta1_needs_a_mesh_name() -> None:
    _objects, router = await setup(AppMeshV1beta1Router)
    document = appmesh_canary()
    del document["spec"]["service"]["meshName"]
    with pytest.raises(ConfigError, match=r"needs spec\.service\.meshName"):
        await router.reconcile(parsed(document))


# -- releases on the in-memory store ------------------------------------------------------------


async def v1beta2_weights(objects: MemoryObjects) -> tuple[int, int]:
    router = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo", "test")
    targets = router["spec"]["routes"][0]["httpRoute"]["action"]["weightedTargets"]
    weights = {t["virtualNodeRef"]["name"]: t["weight"] for t in targets}
    return weights["podinfo-primary"], weights["podinfo-canary"]


async def v1beta1_weights(objects: MemoryObjects) -> tuple[int, int]:
    service = await get(objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, "podinfo.test", "test")
    targets = service["spec"]["routes"][0]["http"]["action"]["weightedTargets"]
    weights = {t["virtualNodeName"]: t["weight"] for t in targets}
    return weights["podinfo-primary"], weights["podinfo-canary"]


STRATEGIES = [
    ({}, [(100, 0), (90, 10), (80, 20), (70, 30), (100, 0)]),
    (BLUE_GREEN, [(100, 0), (0, 100), (100, 0)]),
    (A_B_TESTING, [(100, 0), (0, 100), (100, 0)]),
]


@pytest.mark.parametrize(("analysis", "expected"), STRATEGIES, ids=["canary", "b-g", "a-b"])
@pytest.mark.parametrize(
    ("provider", "router", "weights"),
    [
        ("appmesh:v1beta2", AppMeshRouter, v1beta2_weights),
        ("appmesh", AppMeshV1beta1Router, v1beta1_weights),
    ],
)
async def test_release(
    provider: str,
    router: Any,
    weights: Any,
    analysis: dict[str, Any],
    expected: list[tuple[int, int]],
) -> None:
    document = release_document(provider, **analysis)
    document["spec"]["service"]["meshName"] = "global"
    release = await MeshRelease(router, document).setup(deployment("podinfo", "test"))
    assert await release.release(release.new_image, weights) == expected


@pytest.mark.parametrize(
    ("analysis", "refusal"),
    [
        (MIRRORING, "provider appmesh:v1beta2 cannot mirror traffic"),
        (SESSION_AFFINITY, "provider appmesh:v1beta2 cannot pin sessions"),
        (
            {"iterations": 2, "match": [{"queryParams": {"user": {"exact": "a"}}}]},
            r"cannot route on spec.analysis.match\[0\].queryParams: it matches headers only",
        ),
        ({**A_B_TESTING, "match": [{"method": {"exact": "GET"}}]}, "it matches headers only"),
    ],
)
async def test_what_app_mesh_would_ignore_is_refused(
    analysis: dict[str, Any], refusal: str
) -> None:
    document = release_document("appmesh:v1beta2", **analysis)
    release = await MeshRelease(AppMeshRouter, document).setup(deployment("podinfo", "test"))
    with pytest.raises(ConfigError, match=refusal):
        await release.tick(2)
    assert await release.objects.get(APPMESH_VIRTUAL_ROUTER, "test", "podinfo") is None


# -- revertOnDeletion ---------------------------------------------------------------------------


async def test_finalize_restores_a_virtual_node_that_was_there_before() -> None:
    objects, router = await setup(AppMeshRouter)
    before = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
    await objects.create(APPMESH_VIRTUAL_NODE.new("default", "podinfo-primary", spec=before))
    canary = parsed(appmesh_canary())
    await router.reconcile(canary)
    node = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-primary")
    assert ORIGINAL_ANNOTATION in node["metadata"]["annotations"]
    await router.finalize(canary)
    node = await get(objects, APPMESH_VIRTUAL_NODE, "podinfo-primary")
    assert node["spec"] == before
    made = await get(objects, APPMESH_VIRTUAL_ROUTER, "podinfo")  # kanaria's: GC removes it
    assert made["metadata"]["ownerReferences"][0]["name"] == "appmesh"
