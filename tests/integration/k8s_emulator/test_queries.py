"""Lists honour namespaces and selectors; deletion honours finalizers, collections and owners.

kanaria finds a Canary's workloads by label and relies on ownerReferences to clean up the
primary; with selectors ignored and no garbage collection, such bugs would never show.
"""

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster, eventually

pytestmark = pytest.mark.integration


async def _config_maps(core: client.CoreV1Api, labels: dict[str, dict[str, str]]) -> None:
    for name, its_labels in labels.items():
        await core.create_namespaced_config_map(
            "test", {"metadata": {"name": name, "labels": its_labels}}
        )


async def _names(core: client.CoreV1Api, **selectors: str) -> set[str]:
    listed = await core.list_namespaced_config_map("test", **selectors)
    return {item.metadata.name for item in listed.items}


async def test_label_selectors_of_both_kinds(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await _config_maps(
        core,
        {
            "primary": {"app": "podinfo", "track": "primary"},
            "canary": {"app": "podinfo", "track": "canary"},
            "other": {"app": "other"},
        },
    )
    assert await _names(core, label_selector="app=podinfo") == {"primary", "canary"}
    assert await _names(core, label_selector="app==podinfo,track!=canary") == {"primary"}
    assert await _names(core, label_selector="track in (canary, shadow)") == {"canary"}
    assert await _names(core, label_selector="app notin (podinfo)") == {"other"}
    assert await _names(core, label_selector="!track") == {"other"}
    assert await _names(core, label_selector="track") == {"primary", "canary"}
    assert await _names(core, field_selector="metadata.name=canary") == {"canary"}
    assert await _names(core, field_selector="metadata.name!=canary") == {"primary", "other"}
    with pytest.raises(ApiException) as raised:
        await _names(core, label_selector="app in podinfo")
    assert raised.value.status == 400


async def test_lists_are_scoped_to_their_namespace(k8s_cluster: EmulatedCluster) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())
    await apps.create_namespaced_deployment("istio-system", manifests.deployment("istiod"))

    in_test = await apps.list_namespaced_deployment("test")
    everywhere = await apps.list_deployment_for_all_namespaces()

    assert [d.metadata.name for d in in_test.items] == ["podinfo"]
    assert {d.metadata.name for d in everywhere.items} == {"podinfo", "istiod"}
    assert int(everywhere.metadata.resource_version) >= 2


async def test_delete_collection_deletes_only_what_matches(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await _config_maps(core, {"a": {"owner": "kanaria"}, "b": {"owner": "kanaria"}, "c": {}})
    await core.delete_collection_namespaced_config_map("test", label_selector="owner=kanaria")
    assert await _names(core) == {"c"}


async def test_finalizers_hold_deletion_until_released(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map(
        "test", {"metadata": {"name": "held", "finalizers": ["kanaria.io/cleanup"]}}
    )
    await core.delete_namespaced_config_map("held", "test")
    held = await core.read_namespaced_config_map("held", "test")
    await core.patch_namespaced_config_map("held", "test", {"metadata": {"finalizers": None}})

    assert held.metadata.deletion_timestamp is not None
    assert await _names(core) == set()


async def test_owned_objects_are_collected_with_their_owner(k8s_cluster: EmulatedCluster) -> None:
    custom = client.CustomObjectsApi(k8s_cluster.api)
    apps = client.AppsV1Api(k8s_cluster.api)
    core = client.CoreV1Api(k8s_cluster.api)
    canary = await custom.create_namespaced_custom_object(
        "flagger.app", "v1beta1", "test", "canaries", manifests.canary()
    )
    primary = manifests.deployment("podinfo-primary")
    primary["metadata"]["ownerReferences"] = [_owner(canary)]
    primary = apps.api_client.sanitize_for_serialization(
        await apps.create_namespaced_deployment("test", primary)
    )
    config = {"metadata": {"name": "podinfo-config-primary", "ownerReferences": [_owner(primary)]}}
    await core.create_namespaced_config_map("test", config)
    await core.create_namespaced_config_map("test", {"metadata": {"name": "unowned"}})

    await custom.delete_namespaced_custom_object(
        "flagger.app", "v1beta1", "test", "canaries", "podinfo"
    )

    emulator = k8s_cluster.emulator
    await eventually(
        lambda: emulator.get_object("configmaps.v1", "test", "podinfo-config-primary") is None
    )
    assert emulator.get_object("apps/v1/deployments", "test", "podinfo-primary") is None
    assert await _names(core) == {"unowned"}


def _owner(obj: dict[str, str | dict[str, str]]) -> dict[str, str | bool]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return {
        "apiVersion": str(obj["apiVersion"]),
        "kind": str(obj["kind"]),
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }
