"""A small kopf operator runs against the emulator as kanaria's will: end to end, and in peers.

It proves the emulator carries what kopf needs and stock kmock lacks: finalizers guarded by
resourceVersion, per-object memory keyed by uid, daemons, Events with generated names, status
written through the subresource, garbage collection of what it created, and peering in which
only the leader acts. Faults show that the operator outlives a 409 and a 500.
"""

import contextlib
from typing import Any

import kopf
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.k8s_emulator import manifests
from tests.support.k8s.fixtures import EmulatedCluster, eventually
from tests.support.k8s.operators import running_operator

pytestmark = pytest.mark.integration

CANARY = ("flagger.app", "v1beta1", "canaries")
MERGE = "application/merge-patch+json"
PRIMARY = ("test", "podinfo-primary")


def canary_operator() -> kopf.OperatorRegistry:
    """An operator that initializes a Canary, analyses it in a daemon and finalizes it."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def connect(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.queueing.error_delays = [0.2, 0.5, 1.0]
        memo.api = client.ApiClient(client.Configuration(host=memo.url))

    @kopf.on.cleanup(registry=registry)
    async def disconnect(memo: kopf.Memo, **_: Any) -> None:
        await memo.api.close()

    @kopf.on.create(*CANARY, registry=registry, backoff=0.2)
    async def initialize(
        *, name: str, namespace: str, body: kopf.Body, spec: kopf.Spec, patch: kopf.Patch,
        memo: kopf.Memo, **_: Any,
    ) -> None:  # fmt: skip
        apps = client.AppsV1Api(memo.api)
        target = await apps.read_namespaced_deployment(spec["targetRef"]["name"], namespace)
        primary_spec = memo.api.sanitize_for_serialization(target.spec)
        primary = {"metadata": {"name": f"{name}-primary"}, "spec": primary_spec}
        kopf.adopt(primary, owner=body)
        with contextlib.suppress(ApiException):  # already created by an earlier attempt
            await apps.create_namespaced_deployment(namespace, primary)
        patch.status["phase"] = "Initialized"
        kopf.info(body, reason="Synced", message=f"Initialization done! {name}.test")
        kopf.info(body, reason="Synced", message="Starting canary analysis")

    @kopf.daemon(*CANARY, registry=registry)
    async def analyse(
        name: str, namespace: str, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any
    ) -> None:
        custom = client.CustomObjectsApi(memo.api)
        iterations = 0
        while not stopped:
            iterations += 1
            status = {"status": {"iterations": iterations, "message": f"analysed by {name}"}}
            with contextlib.suppress(ApiException):  # a lost tick is retried on the next one
                await custom.patch_namespaced_custom_object_status(
                    *_at(namespace), name, status, _content_type=MERGE
                )
            await stopped.wait(0.1)

    @kopf.on.delete(*CANARY, registry=registry)
    async def finalize(name: str, memo: kopf.Memo, **_: Any) -> None:
        memo.finalized.append(name)

    return registry


async def test_a_kopf_operator_runs_a_canary_end_to_end(k8s_cluster: EmulatedCluster) -> None:
    emulator, api = k8s_cluster.emulator, k8s_cluster.api
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    await client.AppsV1Api(api).create_namespaced_deployment("test", manifests.deployment())
    await client.AppsV1Api(api).create_namespaced_deployment("test", manifests.deployment("other"))
    conflict = emulator.inject("patch", "canaries", status=409, subresource=None, times=1)
    outage = emulator.inject("get", "deployments", status=500, name="podinfo", times=1)
    memo = kopf.Memo(url=k8s_cluster.url, finalized=[])

    async with running_operator(k8s_cluster.url, canary_operator(), memo=memo):
        await custom.create_namespaced_custom_object(*_at("test"), manifests.canary())
        await custom.create_namespaced_custom_object(*_at("test"), manifests.canary("other"))
        podinfo = await eventually(lambda: _analysed(emulator, "podinfo", iterations=3))
        other = await eventually(lambda: _analysed(emulator, "other", iterations=3))
        primary = emulator.get_object("apps/v1/deployments", *PRIMARY)
        events = await core.list_namespaced_event(
            "test", field_selector="involvedObject.name=podinfo"
        )

        await custom.delete_namespaced_custom_object(*_at("test"), "podinfo")
        await eventually(lambda: not emulator.get_object("apps/v1/deployments", *PRIMARY))

    assert podinfo["status"]["phase"] == "Initialized"
    assert other["status"]["message"] == "analysed by other"  # each daemon got its own object
    assert podinfo["metadata"]["finalizers"]
    assert primary is not None
    assert primary["metadata"]["ownerReferences"][0]["uid"] == podinfo["metadata"]["uid"]
    assert [e.message for e in events.items if e.reason == "Synced"] == [
        "Initialization done! podinfo.test",
        "Starting canary analysis",
    ]
    assert emulator.get_object("flagger.app/v1beta1/canaries", "test", "podinfo") is None
    assert set(memo.finalized) == {"podinfo"}  # kopf re-runs it if the daemon was still exiting
    assert (conflict.hits, outage.hits) == (1, 1)


async def test_only_the_leading_peer_acts(k8s_cluster: EmulatedCluster) -> None:
    custom = client.CustomObjectsApi(k8s_cluster.api)
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "default"}}
    await custom.create_namespaced_custom_object("kopf.dev", "v1", "test", "kopfpeerings", peering)
    handled: list[tuple[str, str]] = []
    registry = kopf.OperatorRegistry()

    @kopf.on.create(*CANARY, registry=registry)
    def record(name: str, memo: kopf.Memo, **_: Any) -> None:
        handled.append((memo.peer, name))

    def peer(identity: str, priority: int) -> Any:
        return running_operator(
            k8s_cluster.url, registry, peering="default", priority=priority,
            identity=identity, memo=kopf.Memo(peer=identity),
        )  # fmt: skip

    async with contextlib.AsyncExitStack() as leader:
        await leader.enter_async_context(peer("leader", 200))
        await eventually(lambda: _peers(k8s_cluster) == {"leader"})
        async with peer("follower", 100):
            await eventually(lambda: _peers(k8s_cluster) == {"leader", "follower"})
            await custom.create_namespaced_custom_object(*_at("test"), manifests.canary("c1"))
            await eventually(lambda: handled)
            await leader.aclose()
            await eventually(lambda: _peers(k8s_cluster) == {"follower"})
            await custom.create_namespaced_custom_object(*_at("test"), manifests.canary("c2"))
            await eventually(lambda: len(handled) == 2)

    assert handled == [("leader", "c1"), ("follower", "c2")]


def _at(namespace: str) -> tuple[str, str, str, str]:
    return CANARY[0], CANARY[1], namespace, CANARY[2]


def _analysed(emulator: Any, name: str, *, iterations: int) -> dict[str, Any] | None:
    """The Canary once initialized and analysed `iterations` times, else None."""
    canary = emulator.get_object("flagger.app/v1beta1/canaries", "test", name)
    status = (canary or {}).get("status", {})
    done = status.get("phase") == "Initialized" and status.get("iterations", 0) >= iterations
    return canary if done else None


def _peers(k8s_cluster: EmulatedCluster) -> set[str]:
    peering = k8s_cluster.emulator.get_object("kopf.dev/v1/kopfpeerings", "test", "default")
    return set((peering or {}).get("status") or {})
