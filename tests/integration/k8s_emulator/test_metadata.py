"""The emulator manages metadata as the API server does: uid, resourceVersion, generation, names.

kopf keys its memory of objects by uid and guards finalizer patches with resourceVersion; kanaria
reads generation to see a new revision. A stock kmock sets none of these.
"""

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster

pytestmark = pytest.mark.integration


async def test_create_fills_server_managed_metadata(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    first = await apps.create_namespaced_deployment("test", manifests.deployment("a"))
    second = await apps.create_namespaced_deployment("test", manifests.deployment("b"))

    assert first.metadata.uid
    assert first.metadata.uid != second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert first.metadata.generation == 1
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert first.metadata.namespace == "test"  # from the URL; the body named none


async def test_generation_counts_spec_changes_only(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())

    await apps.patch_namespaced_deployment("podinfo", "test", {"spec": {"replicas": 3}})
    await apps.patch_namespaced_deployment_status(
        "podinfo", "test", {"status": {"observedGeneration": 2}}
    )
    labelled = await apps.patch_namespaced_deployment(
        "podinfo", "test", {"metadata": {"labels": {"team": "web"}}}
    )

    assert labelled.metadata.generation == 2
    assert labelled.status.observed_generation == 2


async def test_a_write_that_changes_nothing_keeps_the_version(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    created = await apps.create_namespaced_deployment("test", manifests.deployment())
    same = await apps.patch_namespaced_deployment("podinfo", "test", {"spec": {"replicas": 2}})
    assert same.metadata.resource_version == created.metadata.resource_version


async def test_generate_name_gives_each_object_its_own_name(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    body = {"metadata": {"generateName": "kopf-event-"}, "involvedObject": {"name": "podinfo"}}
    names = {(await core.create_namespaced_event("test", body)).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(name.startswith("kopf-event-") for name in names)


async def test_namespaces_can_be_listed_and_created(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespace({"metadata": {"name": "canaries"}})
    listed = await core.list_namespace()
    assert {ns.metadata.name for ns in listed.items} == {"test", "istio-system", "canaries"}
    assert (await core.read_namespace("canaries")).metadata.uid


async def test_objects_need_an_existing_namespace(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    with pytest.raises(ApiException) as raised:
        await core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}})
    assert raised.value.status == 404


async def test_a_second_create_of_a_name_conflicts(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map("test", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as raised:
        await core.create_namespaced_config_map("test", {"metadata": {"name": "c"}})
    assert raised.value.status == 409


async def test_discovery_serves_the_resources_kanaria_uses(k8s_cluster: EmulatedCluster) -> None:
    groups = {g.name: g for g in (await client.ApisApi(k8s_cluster.api).get_api_versions()).groups}
    assert {"apps", "autoscaling", "flagger.app", "networking.istio.io", "kopf.dev"} <= set(groups)
    assert groups["networking.istio.io"].preferred_version.version == "v1beta1"

    flagger = await client.CustomObjectsApi(k8s_cluster.api).get_api_resources(
        "flagger.app", "v1beta1"
    )
    names = {resource.name for resource in flagger.resources}
    assert names == {
        "canaries",
        "canaries/status",
        "metrictemplates",
        "alertproviders",
        "alertproviders/status",
    }
