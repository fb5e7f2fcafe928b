"""Watches resume from a resourceVersion, end after timeoutSeconds, and honour scopes.

kopf and kubernetes-asyncio reconnect watches all the time; a server that replays everything on
each reconnect, or never ends a stream, hides bugs in how a client resumes.
"""

import asyncio
import json
import time
from typing import Any

import pytest
from kubernetes_asyncio import client, watch

from tests.support.k8s.fixtures import EmulatedCluster

pytestmark = pytest.mark.integration


async def _events(list_call: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    """Every (type, name) of a watch that ends by its own timeout."""
    async with watch.Watch().stream(list_call, *args, **kwargs) as stream:
        return [(event["type"], event["object"].metadata.name) async for event in stream]


def _config_map(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


async def test_a_watch_sends_live_events_then_ends_on_time(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map("test", _config_map("before"))

    async def change_later() -> None:
        await asyncio.sleep(0.2)
        await core.create_namespaced_config_map("test", _config_map("during"))
        await core.delete_namespaced_config_map("before", "test")

    started = time.monotonic()
    changes = asyncio.create_task(change_later())
    events = await _events(core.list_namespaced_config_map, "test", timeout_seconds=1)
    await changes

    assert events == [("ADDED", "before"), ("ADDED", "during"), ("DELETED", "before")]
    assert 0.9 < time.monotonic() - started < 5


async def test_a_watch_resumes_after_a_resource_version(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map("test", _config_map("seen"))
    listed = await core.list_namespaced_config_map("test")
    await core.create_namespaced_config_map("test", _config_map("missed"))
    await core.patch_namespaced_config_map("seen", "test", {"data": {"weight": "10"}})

    events = await _events(
        core.list_namespaced_config_map,
        "test",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=0.3,
    )

    assert events == [("ADDED", "missed"), ("MODIFIED", "seen")]


async def test_a_watch_sees_only_its_namespace_and_labels(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map("test", _config_map("mine", app="podinfo"))
    await core.create_namespaced_config_map("test", _config_map("unlabelled"))
    await core.create_namespaced_config_map("istio-system", _config_map("theirs", app="podinfo"))

    in_test = await _events(
        core.list_namespaced_config_map, "test", label_selector="app=podinfo", timeout_seconds=0.3
    )
    by_name = await _events(
        core.list_config_map_for_all_namespaces,
        field_selector="metadata.name=theirs",
        timeout_seconds=0.3,
    )

    assert in_test == [("ADDED", "mine")]
    assert by_name == [("ADDED", "theirs")]


async def test_initial_events_end_with_a_bookmark(k8s_cluster: EmulatedCluster) -> None:
    core = client.CoreV1Api(k8s_cluster.api)
    await core.create_namespaced_config_map("test", _config_map("existing"))
    query = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=0.2"

    async with k8s_cluster.emulator.get(f"/api/v1/namespaces/test/configmaps?{query}") as response:
        lines = [json.loads(line) async for line in response.content if line.strip()]

    assert [line["type"] for line in lines] == ["ADDED", "BOOKMARK"]
    bookmark = lines[1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
