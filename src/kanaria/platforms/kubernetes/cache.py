"""Reads remembered for one tick, so a tick asks the API server for each object once.

The shared target and router code reads the target Deployment from several places in one tick
(readiness, Services, revision, scaling); on the local platform a read is a SQLite lookup, on a
cluster it is a round trip that counts against the API server's limits for every canary every
interval. Wrapping the client in a `TickReads` for the length of one tick makes each object one
GET. Its own writes go through and replace what it remembers, so a tick always sees what it
wrote; what others change during a tick is seen on the next one, as with any informer cache.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

from kanaria.spec.objects import (
    Kind,
    Object,
    ObjectClient,
    kind_of,
    name_of,
    namespace_of,
    version_free,
)

_Key = tuple[str, str, str, str]


def _key(kind: Kind, namespace: str, name: str) -> _Key:
    return (*version_free(kind), namespace, name)


class TickReads:
    """An `ObjectClient` that remembers every object it read or wrote; make one per tick."""

    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self._seen: dict[_Key, Object | None] = {}

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        key = _key(kind, namespace, name)
        if key not in self._seen:
            self._seen[key] = await self.objects.get(kind, namespace, name)
        found = self._seen[key]
        # callers may change what they get; what is remembered must stay as the server has it
        return _as(kind, found) if found is not None else None

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        return await self.objects.list(kind, namespace, labels)

    async def create(self, obj: Object) -> Object:
        with self._forgetting_on_failure(_key_of(obj)):
            return self._remember(await self.objects.create(obj))

    async def replace(self, obj: Object) -> Object:
        with self._forgetting_on_failure(_key_of(obj)):
            return self._remember(await self.objects.replace(obj))

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        with self._forgetting_on_failure(_key(kind, namespace, name)):
            return self._remember(await self.objects.patch(kind, namespace, name, patch))

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        with self._forgetting_on_failure(_key(kind, namespace, name)):
            return self._remember(await self.objects.patch_status(kind, namespace, name, status))

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        self._seen.pop(_key(kind, namespace, name), None)
        return await self.objects.delete(kind, namespace, name)

    def _remember(self, stored: Object) -> Object:
        self._seen[_key_of(stored)] = copy.deepcopy(stored)
        return stored

    @contextlib.contextmanager
    def _forgetting_on_failure(self, key: _Key) -> Iterator[None]:
        """A write that failed may still have happened (a 500 after the commit): read again."""
        try:
            yield
        except BaseException:
            self._seen.pop(key, None)
            raise


def _key_of(obj: Object) -> _Key:
    return _key(kind_of(obj), namespace_of(obj), name_of(obj))


def _as(kind: Kind, obj: Object) -> Object:
    copied = copy.deepcopy(obj)
    copied["apiVersion"] = kind.api_version
    return copied
