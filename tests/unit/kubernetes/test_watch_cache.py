"""The operator's watch-fed cache: reads from memory, read-your-writes, drift, relist on 410."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from typing import Any

from kanaria.platforms.kubernetes.cache import WatchCache
from kanaria.spec.objects import DEPLOYMENT, Kind, Object


def deployment(name: str, version: int, replicas: int = 1) -> Object:
    meta = {"name": name, "namespace": "test", "resourceVersion": str(version)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": replicas},
    }


class FakeApi:
    """Lists what `listed` holds; each watch streams what the test puts on `events`."""

    def __init__(self, *listed: Object) -> None:
        self.listed = list(listed)
        self.events: asyncio.Queue[Object | None] = asyncio.Queue()
        self.lists = 0
        self.gets = 0

    async def list_at(self, kind: Kind, namespace: str | None) -> tuple[builtins.list[Object], str]:
        self.lists += 1
        return [dict(obj) for obj in self.listed], "10"

    async def watch(
        self, kind: Kind, namespace: str | None, since: str, seconds: float
    ) -> AsyncIterator[Object]:
        while (event := await self.events.get()) is not None:
            yield event

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        self.gets += 1
        return None

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        return deployment(name, 20, replicas=patch["spec"]["replicas"])

    async def list(self, *args: Any) -> builtins.list[Object]:
        raise AssertionError("a cached kind is never listed through")

    create = replace = patch_status = delete = list


async def settled(api: FakeApi) -> None:
    """Let the informer take the queued events (yields to the loop; no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)
    assert api.events.empty()


async def test_reads_come_from_one_list_and_the_watch_keeps_them_current() -> None:
    api = FakeApi(deployment("podinfo", 5))
    cache = WatchCache(api)  # type: ignore[arg-type]
    first = await cache.get(DEPLOYMENT, "test", "podinfo")
    assert first is not None
    assert first["spec"]["replicas"] == 1

    api.events.put_nowait({"type": "MODIFIED", "object": deployment("podinfo", 11, replicas=3)})
    await settled(api)
    drifted = await cache.get(DEPLOYMENT, "test", "podinfo")

    assert drifted is not None
    assert drifted["spec"]["replicas"] == 3
    assert (api.lists, api.gets) == (1, 0)
    await cache.close()


async def test_a_write_is_read_back_at_once_and_an_older_event_does_not_undo_it() -> None:
    api = FakeApi(deployment("podinfo", 5))
    cache = WatchCache(api)  # type: ignore[arg-type]
    await cache.get(DEPLOYMENT, "test", "podinfo")

    await cache.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 4}})
    api.events.put_nowait({"type": "MODIFIED", "object": deployment("podinfo", 12, replicas=2)})
    await settled(api)
    found = await cache.get(DEPLOYMENT, "test", "podinfo")

    assert found is not None
    assert found["spec"]["replicas"] == 4
    await cache.close()


async def test_an_expired_watch_lists_again_and_forgets_what_was_deleted_meanwhile() -> None:
    api = FakeApi(deployment("podinfo", 5), deployment("gone", 6))
    cache = WatchCache(api)  # type: ignore[arg-type]
    assert await cache.get(DEPLOYMENT, "test", "gone") is not None

    api.listed = [deployment("podinfo", 30)]
    api.events.put_nowait({"type": "ERROR", "object": {"code": 410, "message": "too old"}})
    await settled(api)

    assert await cache.get(DEPLOYMENT, "test", "gone") is None
    assert api.lists == 2
    await cache.close()
