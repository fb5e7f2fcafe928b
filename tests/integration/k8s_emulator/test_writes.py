"""Writes follow the API server: preconditions, patch types, status and scale subresources.

Each case is one a stock kmock gets wrong in a way that hides a client bug: a stale update that
should conflict, a strategic merge patch that should keep a sidecar, a merge patch sent as a JSON
patch, a status write that should not touch the spec.
"""

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster

pytestmark = pytest.mark.integration

MERGE = "application/merge-patch+json"
CANARIES = ("flagger.app", "v1beta1", "test", "canaries")


async def _status_of_failed(call: Any) -> int:
    with pytest.raises(ApiException) as raised:
        await call
    return int(raised.value.status)


async def test_replace_with_a_stale_version_conflicts(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    stale = await apps.create_namespaced_deployment("test", manifests.deployment())
    fresh = await apps.read_namespaced_deployment("podinfo", "test")
    fresh.spec.replicas = 4
    replaced = await apps.replace_namespaced_deployment("podinfo", "test", fresh)

    stale.spec.replicas = 1
    assert (
        await _status_of_failed(apps.replace_namespaced_deployment("podinfo", "test", stale)) == 409
    )
    assert replaced.spec.replicas == 4
    assert replaced.metadata.generation == 2


async def test_a_patch_with_a_stale_version_conflicts(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    created = await apps.create_namespaced_deployment("test", manifests.deployment())
    await apps.patch_namespaced_deployment("podinfo", "test", {"spec": {"replicas": 3}})

    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}}
    patch = apps.patch_namespaced_deployment("podinfo", "test", stale | {"spec": {"replicas": 1}})
    assert await _status_of_failed(patch) == 409


async def test_a_failed_json_patch_test_is_unprocessable(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    created = await apps.create_namespaced_deployment("test", manifests.deployment())
    version = created.metadata.resource_version
    add_finalizer = {"op": "add", "path": "/metadata/finalizers", "value": ["kanaria"]}
    test_version = {"op": "test", "path": "/metadata/resourceVersion", "value": version}

    patched = await apps.patch_namespaced_deployment(
        "podinfo", "test", [test_version, add_finalizer]
    )
    again = apps.patch_namespaced_deployment("podinfo", "test", [test_version, add_finalizer])

    assert patched.metadata.finalizers == ["kanaria"]
    assert await _status_of_failed(again) == 422


async def test_strategic_merge_keeps_other_containers(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())
    new_image = {"name": "podinfod", "image": "stefanprodan/podinfo:3.1.1"}
    patch = {"spec": {"template": {"spec": {"containers": [new_image]}}}}

    patched = await apps.patch_namespaced_deployment("podinfo", "test", patch)

    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"podinfod", "istio-proxy"}
    assert containers["podinfod"].image == "stefanprodan/podinfo:3.1.1"
    assert containers["podinfod"].ports[0].container_port == 9898


async def test_a_merge_patch_replaces_lists(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())
    only = {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": "x"}]}}}}
    patched = await apps.patch_namespaced_deployment("podinfo", "test", only, _content_type=MERGE)
    assert [c.name for c in patched.spec.template.spec.containers] == ["podinfod"]


async def test_custom_resources_refuse_what_crds_refuse(k8s_cluster: EmulatedCluster) -> None:
    custom = client.CustomObjectsApi(k8s_cluster.api)
    await custom.create_namespaced_custom_object(*CANARIES, manifests.canary())
    patch = {"spec": {"analysis": {"threshold": 10}}}

    as_json_patch = custom.patch_namespaced_custom_object(*CANARIES, "podinfo", patch)
    as_strategic = custom.patch_namespaced_custom_object(
        *CANARIES, "podinfo", patch, _content_type="application/strategic-merge-patch+json"
    )
    merged = await custom.patch_namespaced_custom_object(
        *CANARIES, "podinfo", patch, _content_type=MERGE
    )

    assert await _status_of_failed(as_json_patch) == 400  # the client's default for a dict
    assert await _status_of_failed(as_strategic) == 415
    assert merged["spec"]["analysis"] == {
        "interval": "1m",
        "threshold": 10,
        "maxWeight": 50,
        "stepWeight": 10,
    }


async def test_status_writes_change_only_the_status(k8s_cluster: EmulatedCluster) -> None:
    custom = client.CustomObjectsApi(k8s_cluster.api)
    created = await custom.create_namespaced_custom_object(
        *CANARIES, manifests.canary() | {"status": {"phase": "Succeeded"}}
    )
    both = {"spec": {"analysis": {"threshold": 1}}, "status": {"phase": "Initialized"}}

    via_status = await custom.patch_namespaced_custom_object_status(
        *CANARIES, "podinfo", both, _content_type=MERGE
    )
    via_main = await custom.patch_namespaced_custom_object(
        *CANARIES, "podinfo", {"status": {"phase": "Failed"}}, _content_type=MERGE
    )

    assert "status" not in created  # a create ignores the status too
    assert via_status["spec"]["analysis"]["threshold"] == 5
    assert via_status["status"] == {"phase": "Initialized"}
    assert via_main["status"] == {"phase": "Initialized"}
    assert via_status["metadata"]["generation"] == 1


async def test_deployment_status_can_be_replaced(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    deployment = await apps.create_namespaced_deployment("test", manifests.deployment())
    deployment.status = client.V1DeploymentStatus(observed_generation=1, ready_replicas=2)
    deployment.spec.replicas = 9

    replaced = await apps.replace_namespaced_deployment_status("podinfo", "test", deployment)

    assert replaced.status.ready_replicas == 2
    assert replaced.spec.replicas == 2


async def test_the_scale_subresource_reads_and_writes_replicas(
    k8s_cluster: EmulatedCluster,
) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())

    scale = await apps.read_namespaced_deployment_scale("podinfo", "test")
    await apps.patch_namespaced_deployment_scale("podinfo", "test", {"spec": {"replicas": 0}})
    deployment = await apps.read_namespaced_deployment("podinfo", "test")

    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=podinfo"
    assert deployment.spec.replicas == 0
    assert deployment.metadata.generation == 2


async def test_autoscalers_of_autoscaling_v2_are_stored(k8s_cluster: EmulatedCluster) -> None:
    autoscaling = client.AutoscalingV2Api(k8s_cluster.api)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}
    hpa = {
        "metadata": {"name": "podinfo"},
        "spec": {"scaleTargetRef": target, "minReplicas": 2, "maxReplicas": 4},
    }
    await autoscaling.create_namespaced_horizontal_pod_autoscaler("test", hpa)
    await autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "podinfo", "test", {"spec": {"scaleTargetRef": target | {"name": "podinfo-primary"}}}
    )
    stored = await autoscaling.read_namespaced_horizontal_pod_autoscaler("podinfo", "test")
    assert stored.spec.scale_target_ref.name == "podinfo-primary"
    assert stored.spec.max_replicas == 4
