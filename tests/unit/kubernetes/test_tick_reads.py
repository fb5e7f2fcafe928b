"""A tick reads each object once, sees its own writes, and forgets what a failed write may have
changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kanaria.errors import TemporaryError
from kanaria.platforms.kubernetes.cache import TickReads
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import DEPLOYMENT, HPA, Kind, Object

PODINFO: Object = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {"replicas": 2},
}


class Counting(MemoryObjects):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.fail_patches = 0

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        self.gets += 1
        return await super().get(kind, namespace, name)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        if self.fail_patches:
            self.fail_patches -= 1
            await super().patch(kind, namespace, name, patch)  # written, then the answer is lost
            raise TemporaryError("500 after the commit")
        return await super().patch(kind, namespace, name, patch)


@pytest.fixture
async def store() -> Counting:
    objects = Counting()
    await objects.create(copy.deepcopy(PODINFO))
    return objects


async def test_each_object_is_read_once_per_tick(store: Counting) -> None:
    reads = TickReads(store)
    for _ in range(3):
        found = await reads.get(DEPLOYMENT, "test", "podinfo")
        assert found is not None
        found["spec"]["replicas"] = 99  # a caller's change stays the caller's
    assert await reads.get(HPA, "test", "podinfo") is None
    assert await reads.get(HPA, "test", "podinfo") is None
    assert store.gets == 2
    assert ((await reads.get(DEPLOYMENT, "test", "podinfo")) or {})["spec"]["replicas"] == 2


async def test_a_tick_sees_its_own_writes(store: Counting) -> None:
    reads = TickReads(store)
    await reads.get(DEPLOYMENT, "test", "podinfo")
    await reads.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 0}})
    assert _replicas(await reads.get(DEPLOYMENT, "test", "podinfo")) == 0
    created = await reads.create(
        {**copy.deepcopy(PODINFO), "metadata": {"name": "b", "namespace": "test"}}
    )
    assert created["metadata"]["name"] == "b"
    assert await reads.get(DEPLOYMENT, "test", "b") is not None
    assert await reads.delete(DEPLOYMENT, "test", "b")
    assert await reads.get(DEPLOYMENT, "test", "b") is None
    assert store.gets == 2  # the first read, and the read after the delete


async def test_a_failed_write_is_read_again(store: Counting) -> None:
    reads = TickReads(store)
    await reads.get(DEPLOYMENT, "test", "podinfo")
    store.fail_patches = 1
    with pytest.raises(TemporaryError):
        await reads.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 5}})
    assert _replicas(await reads.get(DEPLOYMENT, "test", "podinfo")) == 5
    assert store.gets == 2


def _replicas(obj: dict[str, Any] | None) -> int:
    assert obj is not None
    return int(obj["spec"]["replicas"])
