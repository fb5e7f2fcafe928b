"""An `ObjectClient` in memory, with the API server's rules that the code above relies on.

Used by unit tests and by simulations: resourceVersion on every write (a stale replace is a
conflict), `generation` that moves only with the spec, status written only through
`patch_status`, label selection, and objects read at any version of their group. The local
platform's SQLite store follows the same rules.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from typing import Any

from kanaria.errors import ConflictError, NotFoundError
from kanaria.spec.objects import (
    Kind,
    Object,
    kind_of,
    matches_labels,
    merge_patch,
    name_of,
    namespace_of,
    version_free,
)

Key = tuple[str, str, str, str]


def _key(kind: Kind, namespace: str, name: str) -> Key:
    group, kind_name = version_free(kind)
    return (group, kind_name, namespace, name)


class MemoryObjects:
    def __init__(self) -> None:
        self.objects: dict[Key, Object] = {}
        self._versions = itertools.count(1)
        self.changed = asyncio.Event()
        self.writes = 0

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        stored = self.objects.get(_key(kind, namespace, name))
        return _as(kind, stored) if stored is not None else None

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        group, kind_name = version_free(kind)
        return [
            _as(kind, obj)
            for (obj_group, obj_kind, obj_namespace, _), obj in sorted(self.objects.items())
            if (obj_group, obj_kind) == (group, kind_name)
            and namespace in (None, obj_namespace)
            and matches_labels(obj, labels)
        ]

    async def create(self, obj: Object) -> Object:
        kind, namespace, name = kind_of(obj), namespace_of(obj), name_of(obj)
        if not name:
            raise NotFoundError(f"{kind.kind} in {namespace} has no name")
        key = _key(kind, namespace, name)
        if key in self.objects:
            raise ConflictError(f"{kind.kind} {namespace}/{name} already exists")
        stored = copy.deepcopy(obj)
        metadata = stored.setdefault("metadata", {})
        metadata.update(namespace=namespace, uid=str(uuid.uuid4()), generation=1)
        return self._store(key, stored)

    async def replace(self, obj: Object) -> Object:
        kind, namespace, name = kind_of(obj), namespace_of(obj), name_of(obj)
        current = self._existing(kind, namespace, name)
        expected = (obj.get("metadata") or {}).get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"{kind.kind} {namespace}/{name} was changed by someone else")
        stored = copy.deepcopy(obj)
        stored["metadata"] = {**current["metadata"], **stored.get("metadata", {})}
        stored.pop("status", None)
        if "status" in current:
            stored["status"] = current["status"]
        return self._write(current, stored)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        current = self._existing(kind, namespace, name)
        patch = {key: value for key, value in patch.items() if key != "status"}
        return self._write(current, merge_patch(current, patch))

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        current = self._existing(kind, namespace, name)
        updated = copy.deepcopy(current)
        updated["status"] = merge_patch(current.get("status") or {}, status)
        return self._write(current, updated, spec_changed=False)

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        removed = self.objects.pop(_key(kind, namespace, name), None)
        if removed is not None:
            self._notify()
        return removed is not None

    def _existing(self, kind: Kind, namespace: str, name: str) -> Object:
        current = self.objects.get(_key(kind, namespace, name))
        if current is None:
            raise NotFoundError(f"{kind.kind} {namespace}/{name} not found")
        return current

    def _write(self, current: Object, updated: Object, spec_changed: bool = True) -> Object:
        metadata = updated.setdefault("metadata", {})
        if spec_changed and _body(updated) != _body(current):
            metadata["generation"] = int(current["metadata"].get("generation", 1)) + 1
        key = _key(kind_of(updated), namespace_of(updated), name_of(updated))
        return self._store(key, updated)

    def _store(self, key: Key, obj: Object) -> Object:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[key] = obj
        self.writes += 1
        self._notify()
        return copy.deepcopy(obj)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def _body(obj: Object) -> Any:
    """What `generation` tracks: everything but metadata and status."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def _as(kind: Kind, obj: Object) -> Object:
    copied = copy.deepcopy(obj)
    copied["apiVersion"] = kind.api_version
    return copied
