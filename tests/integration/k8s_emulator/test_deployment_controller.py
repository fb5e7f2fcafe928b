"""The fake Deployment controller rolls out each generation after a delay, or fails it on demand.

kanaria waits for rollouts as Flagger does; these tests pin down the status it will read.
"""

import pytest
from kubernetes_asyncio import client

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster, eventually

pytestmark = pytest.mark.integration


def _progress(deployment: client.V1Deployment) -> tuple[int | None, str | None]:
    status = deployment.status
    conditions = {c.type: c for c in (status.conditions or [])} if status else {}
    progressing = conditions.get("Progressing")
    return (
        status.observed_generation if status else None,
        progressing.reason if progressing else None,
    )


async def test_each_generation_rolls_out_after_the_delay(k8s_cluster: EmulatedCluster) -> None:
    k8s_cluster.emulator.deployment_controller(rollout_delay=0.5)
    apps = client.AppsV1Api(k8s_cluster.api)

    created = await apps.create_namespaced_deployment("test", manifests.deployment())
    rolled_out = await eventually(lambda: _rolled_out(apps, generation=1), within=5)
    image = {"name": "podinfod", "image": "stefanprodan/podinfo:3.1.1"}
    await apps.patch_namespaced_deployment(
        "podinfo", "test", {"spec": {"template": {"spec": {"containers": [image]}}}}
    )
    rolling = await apps.read_namespaced_deployment("podinfo", "test")
    await eventually(lambda: _rolled_out(apps, generation=2), within=5)

    assert created.status is None
    assert rolled_out.status.ready_replicas == rolled_out.status.updated_replicas == 2
    assert rolled_out.status.available_replicas == 2
    assert _progress(rolling) == (1, "NewReplicaSetAvailable")  # not yet the new generation


async def test_a_rollout_can_be_made_to_fail_and_recover(k8s_cluster: EmulatedCluster) -> None:
    controller = k8s_cluster.emulator.deployment_controller(rollout_delay=0.05)
    apps = client.AppsV1Api(k8s_cluster.api)
    await apps.create_namespaced_deployment("test", manifests.deployment())
    await eventually(lambda: _rolled_out(apps, generation=1))

    controller.fail("test", "podinfo")
    failed = await eventually(lambda: _has_reason(apps, "ProgressDeadlineExceeded"))
    controller.recover("test", "podinfo")
    await eventually(lambda: _has_reason(apps, "NewReplicaSetAvailable"))

    assert failed.status.updated_replicas == 0
    assert {c.type: c.status for c in failed.status.conditions} == {
        "Available": "False",
        "Progressing": "False",
    }


async def _rolled_out(apps: client.AppsV1Api, *, generation: int) -> client.V1Deployment | None:
    deployment = await apps.read_namespaced_deployment("podinfo", "test")
    done = _progress(deployment) == (generation, "NewReplicaSetAvailable")
    return deployment if done else None


async def _has_reason(apps: client.AppsV1Api, reason: str) -> client.V1Deployment | None:
    deployment = await apps.read_namespaced_deployment("podinfo", "test")
    return deployment if _progress(deployment)[1] == reason else None
