"""Objects the ticks read, kept current by watches and shared by every Canary.

A tick reads the target and its primary, their HPAs, three Services, the router's objects,
tracked ConfigMaps and Secrets and the Canary itself; asked of the API server, that is about a
dozen GETs per Canary per interval, 200 requests a second for 1,000 Canaries. Like client-go's
informers, `WatchCache` lists each kind once per namespace, then follows a watch from the list's
resourceVersion, so reads are answered from memory and a tick sends only the writes it needs.

- Drift (someone edits a managed object) arrives as a watch event; the next tick reads it from
  the cache and repairs it, as it would have from a GET.
- Read-your-writes: a write's answer goes into the cache at once, and a watch event older than
  what is cached (by resourceVersion) is ignored.
- A watch that ends is resumed from the last resourceVersion seen; one that the server refuses
  as too old (410 Gone) or that breaks is followed by a fresh list, which replaces the kind's
  objects whole (so deletions missed meanwhile are seen). While a kind cannot be listed, its
  reads go to the API server directly.
- Objects are kept as compact JSON without `managedFields`, decoded on each read (callers may
  change what they get): about a fifth of the memory of the decoded dicts.
- Events, Namespaces, kopf's peering objects and cluster-scoped kinds are not cached: kanaria
  writes Events more than it reads them, and reads the others rarely.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from kanaria.errors import KanariaError, TemporaryError
from kanaria.platforms.kubernetes.client import resource_of
from kanaria.spec.objects import (
    Kind,
    Object,
    kind_of,
    name_of,
    namespace_of,
    version_free,
)

log = logging.getLogger(__name__)

UNCACHED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Event"),
        ("", "Namespace"),
        ("kopf.dev", "KopfPeering"),
        ("kopf.dev", "ClusterKopfPeering"),
    }
)
WATCH_SECONDS = 300.0  # a watch is renewed this often, as client-go's reflectors do (5-10 min)
SYNC_SECONDS = 30.0  # how long a first read waits for its kind's first list
RELIST_PAUSE_SECONDS = 1.0

ObjectKey = tuple[str, str]  # namespace ("" when cluster-scoped), name
InformerKey = tuple[str, str, str | None]  # group, kind, namespace (None: every namespace)


class WatchSource(Protocol):
    """What a cache needs of the API: the operator's `KubernetesObjects` (plus the writes of
    `ObjectClient`, which it forwards)."""

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None: ...

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]: ...

    async def create(self, obj: Object) -> Object: ...

    async def replace(self, obj: Object) -> Object: ...

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object: ...

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: Object
    ) -> Object: ...

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool: ...

    async def list_at(
        self, kind: Kind, namespace: str | None
    ) -> tuple[builtins.list[Object], str]: ...

    def watch(
        self, kind: Kind, namespace: str | None, since: str, seconds: float
    ) -> AsyncIterator[Object]: ...


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def _revision(obj: Object) -> int:
    version = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(version) if version.isdigit() else 0


def _object_key(obj: Object) -> ObjectKey:
    return (str((obj.get("metadata") or {}).get("namespace") or ""), name_of(obj))


def _encoded(obj: Object) -> bytes:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return json.dumps({**obj, "metadata": meta}, separators=(",", ":")).encode()


class Informer:
    """One kind in one namespace (or all): listed, then watched, in a task of its own."""

    def __init__(self, source: WatchSource, kind: Kind, namespace: str | None) -> None:
        self.source, self.kind, self.namespace = source, kind, namespace
        self.synced = asyncio.Event()
        self.healthy = False
        self._objects: dict[ObjectKey, bytes] = {}
        self._revisions: dict[ObjectKey, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, namespace: str, name: str) -> Object | None:
        found = self._objects.get((namespace, name))
        return None if found is None else dict(json.loads(found))

    def objects(self) -> builtins.list[Object]:
        return [json.loads(encoded) for encoded in self._objects.values()]

    def remember(self, obj: Object) -> None:
        """Keep `obj` unless what is cached is newer (a late watch event after our write)."""
        key = _object_key(obj)
        if _revision(obj) >= self._revisions.get(key, 0):
            self._objects[key] = _encoded(obj)
            self._revisions[key] = _revision(obj)

    def forget(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)
        self._revisions.pop(key, None)

    async def _run(self) -> None:
        while True:
            try:
                version = await self._relist()
                while True:
                    version = await self._follow(version)
            except _Expired:
                log.debug("watch of %s expired; listing again", self.kind.kind)
            except KanariaError as exc:
                self.healthy = False
                log.info(
                    "cache of %s in %s: %s; listing again", self.kind.kind, self.namespace, exc
                )
                await asyncio.sleep(RELIST_PAUSE_SECONDS)

    async def _relist(self) -> str:
        items, version = await self.source.list_at(self.kind, self.namespace)
        self._objects.clear()
        self._revisions.clear()
        for item in items:
            self.remember(item)
        self.healthy = True
        self.synced.set()
        return version

    async def _follow(self, version: str) -> str:
        """Apply watch events from `version` on; the last version seen when the stream ends."""
        async for event in self.source.watch(self.kind, self.namespace, version, WATCH_SECONDS):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Expired()
                raise TemporaryError(f"watch error: {obj.get('message')}")
            if kind == "DELETED":
                self.forget(_object_key(obj))
            elif kind in ("ADDED", "MODIFIED"):
                self.remember(obj)
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        return version


class WatchCache:
    """An `ObjectClient` whose reads come from shared watch-fed caches; writes go through."""

    def __init__(self, source: WatchSource, uncached: frozenset[tuple[str, str]] = UNCACHED):
        self.objects = source
        self._uncached = uncached
        self._informers: dict[InformerKey, Informer] = {}

    async def close(self) -> None:
        for informer in self._informers.values():
            await informer.stop()

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        informer = await self._ready(kind, namespace)
        if informer is None:
            return await self.objects.get(kind, namespace, name)
        found = informer.get(namespace or "", name)
        if found is not None:
            found["apiVersion"] = kind.api_version
        return found

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> builtins.list[Object]:
        informer = await self._ready(kind, namespace) if namespace is not None else None
        if informer is None:
            return await self.objects.list(kind, namespace, labels)
        wanted = (labels or {}).items()
        found = [
            obj
            for obj in informer.objects()
            if wanted <= ((obj.get("metadata") or {}).get("labels") or {}).items()
        ]
        return [{**obj, "apiVersion": kind.api_version} for obj in found]

    async def create(self, obj: Object) -> Object:
        return self._remember(await self.objects.create(obj))

    async def replace(self, obj: Object) -> Object:
        return self._remember(await self.objects.replace(obj))

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        return self._remember(await self.objects.patch(kind, namespace, name, patch))

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        return self._remember(await self.objects.patch_status(kind, namespace, name, status))

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        deleted = await self.objects.delete(kind, namespace, name)
        informer = self._informers.get(self._key(kind, namespace))
        if informer is not None and deleted:
            informer.forget((namespace or "", name))
        return deleted

    def _remember(self, stored: Object) -> Object:
        informer = self._informers.get(self._key(kind_of(stored), namespace_of(stored)))
        if informer is not None:
            informer.remember(stored)
        return stored

    def _key(self, kind: Kind, namespace: str | None) -> InformerKey:
        group, kind_name = version_free(kind)
        return (group, kind_name, namespace or None)

    async def _ready(self, kind: Kind, namespace: str | None) -> Informer | None:
        """The kind's informer once it has listed; None: read from the API server instead."""
        if version_free(kind) in self._uncached or not resource_of(kind).namespaced:
            return None  # cluster-scoped kinds (Kuma's TrafficRoute) are few and rarely read
        key = self._key(kind, namespace)
        if key not in self._informers:
            self._informers[key] = Informer(self.objects, kind, namespace or None)
            self._informers[key].start()
        informer = self._informers[key]
        try:
            await asyncio.wait_for(informer.synced.wait(), SYNC_SECONDS)
        except TimeoutError as exc:
            raise TemporaryError(f"{kind.kind} in {namespace} could not be listed") from exc
        return informer if informer.healthy else None
