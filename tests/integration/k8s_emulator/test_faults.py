"""Injected faults answer before anything is written, so a test sees how a client copes.

The operator must survive 409s on its status writes and 500s from a struggling API server.
"""

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster

pytestmark = pytest.mark.integration

CANARIES = ("flagger.app", "v1beta1", "test", "canaries")
MERGE = "application/merge-patch+json"


async def test_a_fault_hits_its_verb_and_resource_times_times(
    k8s_cluster: EmulatedCluster,
) -> None:
    custom = client.CustomObjectsApi(k8s_cluster.api)
    await custom.create_namespaced_custom_object(*CANARIES, manifests.canary())
    fault = k8s_cluster.emulator.inject(
        "patch", "canaries", status=409, times=2, subresource="status"
    )

    codes = []
    for weight in (10, 20, 30):
        try:
            await custom.patch_namespaced_custom_object_status(
                *CANARIES, "podinfo", {"status": {"canaryWeight": weight}}, _content_type=MERGE
            )
            codes.append(200)
        except ApiException as exc:
            codes.append(exc.status)
    await custom.patch_namespaced_custom_object(
        *CANARIES, "podinfo", {"spec": {"skipAnalysis": True}}, _content_type=MERGE
    )

    stored = k8s_cluster.emulator.get_object("flagger.app/v1beta1/canaries", "test", "podinfo")
    assert codes == [409, 409, 200]
    assert fault.hits == 2
    assert stored is not None
    assert stored["status"] == {"canaryWeight": 30}  # the refused writes left no trace


async def test_a_lasting_fault_fails_every_request_of_a_resource(
    k8s_cluster: EmulatedCluster,
) -> None:
    apps = client.AppsV1Api(k8s_cluster.api)
    core = client.CoreV1Api(k8s_cluster.api)
    k8s_cluster.emulator.inject("*", "apps/v1/deployments", status=500, times=None)

    for call in (
        apps.create_namespaced_deployment("test", manifests.deployment()),
        apps.list_namespaced_deployment("test"),
    ):
        with pytest.raises(ApiException) as raised:
            await call
        assert raised.value.status == 500
    assert (await core.list_namespace()).items


def test_an_unknown_verb_is_refused(k8s_cluster: EmulatedCluster) -> None:
    with pytest.raises(ValueError, match="unknown verb"):
        k8s_cluster.emulator.inject("put", "deployments")
