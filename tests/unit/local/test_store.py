"""The object store's rules, run against both `MemoryObjects` and the SQLite store.

The engine and the workload code are tested on `MemoryObjects`; the local platform runs them on
`SqliteObjects`. One table of cases for both is what makes the first a fair stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kanaria.errors import ConflictError, NotFoundError
from kanaria.platforms.local.store import SqliteObjects
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import (
    DEPLOYMENT,
    EVENT,
    HPA,
    NAMESPACE,
    SERVICE,
    VIRTUAL_SERVICE,
    Kind,
    ObjectClient,
)


@pytest.fixture(params=["memory", "sqlite"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectClient]:
    if request.param == "memory":
        yield MemoryObjects()
        return
    store = SqliteObjects(tmp_path / "objects.sqlite")
    yield store
    store.close()


def deployment(name: str = "podinfo", namespace: str = "test", **labels: str) -> dict[str, Any]:
    return DEPLOYMENT.new(
        namespace,
        name,
        spec={"replicas": 2, "template": {"spec": {"containers": [{"image": "podinfo:3.1.0"}]}}},
    ) | {"metadata": {"name": name, "namespace": namespace, "labels": labels}}


# ---- rules shared by both ------------------------------------------------------------------


async def test_create_sets_server_fields(objects: ObjectClient) -> None:
    created = await objects.create(deployment())
    metadata = created["metadata"]
    assert metadata["generation"] == 1
    assert metadata["uid"]
    assert metadata["resourceVersion"]
    assert await objects.get(DEPLOYMENT, "test", "podinfo") == created


async def test_create_twice_conflicts(objects: ObjectClient) -> None:
    await objects.create(deployment())
    with pytest.raises(ConflictError):
        await objects.create(deployment())


async def test_get_missing_is_none_and_writes_to_missing_raise(objects: ObjectClient) -> None:
    assert await objects.get(DEPLOYMENT, "test", "nothing") is None
    with pytest.raises(NotFoundError):
        await objects.patch(DEPLOYMENT, "test", "nothing", {"spec": {"replicas": 1}})
    with pytest.raises(NotFoundError):
        await objects.patch_status(DEPLOYMENT, "test", "nothing", {"replicas": 1})
    with pytest.raises(NotFoundError):
        await objects.replace(deployment("nothing"))


async def test_every_write_takes_a_newer_resource_version(objects: ObjectClient) -> None:
    versions = [(await objects.create(deployment()))["metadata"]["resourceVersion"]]
    versions.append(
        (await objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 3}}))["metadata"][
            "resourceVersion"
        ]
    )
    versions.append(
        (await objects.patch_status(DEPLOYMENT, "test", "podinfo", {"replicas": 3}))["metadata"][
            "resourceVersion"
        ]
    )
    assert [int(v) for v in versions] == sorted(int(v) for v in versions)
    assert len(set(versions)) == 3


async def test_stale_replace_conflicts_and_fresh_replace_wins(objects: ObjectClient) -> None:
    created = await objects.create(deployment())
    await objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 5}})
    with pytest.raises(ConflictError):
        await objects.replace(created)
    fresh = await objects.get(DEPLOYMENT, "test", "podinfo")
    assert fresh is not None
    fresh["spec"]["replicas"] = 7
    replaced = await objects.replace(fresh)
    assert replaced["spec"]["replicas"] == 7


async def test_generation_follows_the_body_only(objects: ObjectClient) -> None:
    await objects.create(deployment())
    labelled = await objects.patch(
        DEPLOYMENT, "test", "podinfo", {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    status = await objects.patch_status(DEPLOYMENT, "test", "podinfo", {"readyReplicas": 2})
    assert status["metadata"]["generation"] == 1
    same = await objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 2}})
    assert same["metadata"]["generation"] == 1
    scaled = await objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 4}})
    assert scaled["metadata"]["generation"] == 2


async def test_status_only_through_patch_status(objects: ObjectClient) -> None:
    await objects.create(deployment())
    await objects.patch_status(DEPLOYMENT, "test", "podinfo", {"readyReplicas": 2, "x": {"y": 1}})
    patched = await objects.patch(DEPLOYMENT, "test", "podinfo", {"status": {"readyReplicas": 0}})
    assert patched["status"]["readyReplicas"] == 2
    replacement = deployment() | {"status": {"readyReplicas": 9}}
    replaced = await objects.replace(replacement)
    assert replaced["status"] == {"readyReplicas": 2, "x": {"y": 1}}
    merged = await objects.patch_status(DEPLOYMENT, "test", "podinfo", {"x": {"z": 2}})
    assert merged["status"]["x"] == {"y": 1, "z": 2}


async def test_merge_patch_deletes_with_null(objects: ObjectClient) -> None:
    await objects.create(deployment(app="podinfo", tier="web"))
    patched = await objects.patch(
        DEPLOYMENT, "test", "podinfo", {"metadata": {"labels": {"tier": None}}}
    )
    assert patched["metadata"]["labels"] == {"app": "podinfo"}


async def test_objects_are_read_at_any_version_of_their_group(objects: ObjectClient) -> None:
    v2beta2 = Kind("autoscaling/v2beta2", "HorizontalPodAutoscaler")
    await objects.create(v2beta2.new("test", "podinfo", spec={"minReplicas": 2}))
    read = await objects.get(HPA, "test", "podinfo")
    assert read is not None
    assert read["apiVersion"] == "autoscaling/v2"
    assert read["spec"] == {"minReplicas": 2}
    alpha = Kind("networking.istio.io/v1alpha3", "VirtualService")
    await objects.create(alpha.new("test", "podinfo", spec={"hosts": ["*"]}))
    listed = await objects.list(VIRTUAL_SERVICE, "test")
    assert [vs["apiVersion"] for vs in listed] == ["networking.istio.io/v1beta1"]


async def test_list_by_namespace_and_labels_in_name_order(objects: ObjectClient) -> None:
    for name, namespace, app in [("b", "test", "x"), ("a", "test", "y"), ("c", "prod", "x")]:
        await objects.create(deployment(name, namespace, app=app))
    await objects.create(SERVICE.new("test", "a", spec={}))
    assert [d["metadata"]["name"] for d in await objects.list(DEPLOYMENT, "test")] == ["a", "b"]
    everywhere = await objects.list(DEPLOYMENT, None)
    assert sorted(d["metadata"]["name"] for d in everywhere) == ["a", "b", "c"]
    selected = await objects.list(DEPLOYMENT, None, {"app": "x"})
    assert sorted(d["metadata"]["name"] for d in selected) == ["b", "c"]


async def test_delete_says_whether_it_existed(objects: ObjectClient) -> None:
    await objects.create(deployment())
    assert await objects.delete(DEPLOYMENT, "test", "podinfo") is True
    assert await objects.delete(DEPLOYMENT, "test", "podinfo") is False
    assert await objects.get(DEPLOYMENT, "test", "podinfo") is None


async def test_returned_objects_are_copies(objects: ObjectClient) -> None:
    created = await objects.create(deployment())
    created["spec"]["replicas"] = 99
    stored = await objects.get(DEPLOYMENT, "test", "podinfo")
    assert stored is not None
    assert stored["spec"]["replicas"] == 2


async def test_events_are_ordinary_objects(objects: ObjectClient) -> None:
    event = EVENT.new("test", "podinfo.1", reason="Synced", message="hello", count=1)
    await objects.create(event)
    (listed,) = await objects.list(EVENT, "test")
    assert listed["message"] == "hello"


# ---- what only the SQLite store promises ------------------------------------------------------


async def test_sqlite_adds_creation_timestamp(tmp_path: Path) -> None:
    store = SqliteObjects(tmp_path / "objects.sqlite")
    created = await store.create(deployment())
    assert created["metadata"]["creationTimestamp"].endswith("Z")
    replaced = await store.replace(
        deployment() | {"metadata": {"name": "podinfo", "namespace": "test", "uid": "x"}}
    )
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


async def test_sqlite_survives_reopening_without_close(tmp_path: Path) -> None:
    path = tmp_path / "objects.sqlite"
    first = SqliteObjects(path)  # never closed, as after a SIGKILL
    created = await first.create(deployment())
    second = SqliteObjects(path)
    read = await second.get(DEPLOYMENT, "test", "podinfo")
    assert read == created
    later = await second.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 1}})
    assert int(later["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert second.changes.revision([DEPLOYMENT]) == int(later["metadata"]["resourceVersion"])
    first.close()
    second.close()


async def test_namespaces_are_cluster_scoped(tmp_path: Path) -> None:
    store = SqliteObjects(tmp_path / "objects.sqlite")
    created = await store.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}}
    )
    assert "namespace" not in created["metadata"]
    assert await store.get(NAMESPACE, "", "test") is not None
    assert await store.get(NAMESPACE, "anything", "test") is not None
    assert len(await store.list(NAMESPACE, "test")) == 1


async def test_deleting_a_namespace_s_contents(tmp_path: Path) -> None:
    store = SqliteObjects(tmp_path / "objects.sqlite")
    await store.create(deployment("a", "test"))
    await store.create(deployment("b", "prod"))
    assert await store.delete_namespace_contents("test") == 1
    assert [d["metadata"]["name"] for d in await store.list(DEPLOYMENT, None)] == ["b"]


async def test_admission_hooks_see_creates_and_replaces(tmp_path: Path) -> None:
    seen: list[tuple[str, bool]] = []

    def admit(obj: dict[str, Any], current: dict[str, Any] | None) -> None:
        seen.append((obj["metadata"]["name"], current is not None))
        obj.setdefault("spec", {})["clusterIP"] = "127.96.0.1"

    store = SqliteObjects(tmp_path / "objects.sqlite", admissions=[admit])
    created = await store.create(SERVICE.new("test", "podinfo", spec={"ports": []}))
    assert created["spec"]["clusterIP"] == "127.96.0.1"
    await store.replace(SERVICE.new("test", "podinfo", spec={"ports": [{"port": 80}]}))
    await store.patch_status(SERVICE, "test", "podinfo", {"loadBalancer": {}})
    assert seen == [("podinfo", False), ("podinfo", True)]


async def test_change_feed_wakes_waiters_of_the_kind_written(tmp_path: Path) -> None:
    store = SqliteObjects(tmp_path / "objects.sqlite")
    since = store.changes.revision([DEPLOYMENT])
    deployments = asyncio.create_task(store.changes.wait([DEPLOYMENT], since, within=5))
    services = asyncio.create_task(store.changes.wait([SERVICE], since, within=0))
    await asyncio.sleep(0)  # let both start waiting
    created = await store.create(deployment())
    assert await deployments == int(created["metadata"]["resourceVersion"])
    assert await services == since
    assert await store.changes.wait([DEPLOYMENT], 0, within=0) > 0


async def test_change_listeners_hear_their_kinds_only(tmp_path: Path) -> None:
    store = SqliteObjects(tmp_path / "objects.sqlite")
    heard: list[str] = []
    store.changes.listen([SERVICE], lambda: heard.append("service"))
    store.changes.listen(None, lambda: heard.append("any"))
    await store.create(deployment())
    await store.create(SERVICE.new("test", "podinfo", spec={}))
    await store.delete(SERVICE, "test", "podinfo")
    assert heard == ["any", "service", "any", "service", "any"]
