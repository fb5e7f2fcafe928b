"""The local platform's object store: the Kubernetes API server's rules over one SQLite file.

Everything the local platform knows — Deployments, Services, Canaries, Istio objects, Events —
lives here as JSON, so the same code that runs against the API server (`spec.objects`) runs
against this store, and a control plane killed with SIGKILL reopens the file and continues.

The rules are those of `kanaria.spec.memory.MemoryObjects` (the tests run both against the same
cases): objects are keyed by (group, kind, namespace, name) whatever version they are written
or read at; every write takes the next resourceVersion; a replace with a stale resourceVersion
is a conflict; `generation` moves only when the body outside metadata and status changes; status
is written only through `patch_status`. Namespaces are cluster-scoped here (stored under "")
as on the API server.

Every method runs its SQL without awaiting in between, so coroutines sharing one store see each
write whole. WAL mode with `synchronous=NORMAL` keeps a commit safe against a process crash (not
against power loss), at a fraction of a millisecond per write. Writers wake waiters through
`ChangeFeed`, so controllers react at once instead of polling.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kanaria.errors import ConflictError, NotFoundError, TemporaryError
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

CLUSTER_SCOPED_KINDS = frozenset({("", "Namespace")})
KindKey = tuple[str, str]
# A hook that may change an object before it is stored (e.g. give a Service its VIP); it gets
# the object about to be written and the stored one (None on create).
Admission = Callable[[Object, Object | None], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    api_group TEXT NOT NULL,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (api_group, kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ChangeFeed:
    """Per-kind revisions and a way to wait for the next one.

    `revision(kinds)` is the resourceVersion of the last write to any of `kinds`; a controller
    remembers it and calls `wait(kinds, since)` to sleep until something it cares about changes.
    """

    def __init__(self) -> None:
        self._revisions: dict[KindKey, int] = {}
        self._latest = 0
        self._event: asyncio.Event | None = None
        self._listeners: list[tuple[frozenset[KindKey] | None, Callable[[], None]]] = []

    @property
    def latest(self) -> int:
        return self._latest

    def revision(self, kinds: Iterable[Kind] | None = None) -> int:
        if kinds is None:
            return self._latest
        return max((self._revisions.get(version_free(kind), 0) for kind in kinds), default=0)

    def listen(self, kinds: Iterable[Kind] | None, callback: Callable[[], None]) -> None:
        """Call `callback` right after each write of one of `kinds` (None: any kind).

        It runs inside the writer's call, so it must only note the change or schedule work.
        """
        keys = None if kinds is None else frozenset(version_free(kind) for kind in kinds)
        self._listeners.append((keys, callback))

    def publish(self, kind: KindKey, revision: int) -> None:
        """Record a write of `kind` (group, kind) at `revision` and wake every waiter."""
        self._revisions[kind] = revision
        self._latest = max(self._latest, revision)
        if self._event is not None:
            self._event.set()
            self._event = None
        for keys, callback in self._listeners:
            if keys is None or kind in keys:
                callback()

    async def wait(
        self, kinds: Iterable[Kind] | None, since: int, within: float | None = None
    ) -> int:
        """The revision of `kinds` (None: any kind) once it passes `since`, or after `within`
        seconds whatever it is."""
        kinds = None if kinds is None else list(kinds)
        deadline = None if within is None else time.monotonic() + within
        while self.revision(kinds) <= since:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            if self._event is None:
                self._event = asyncio.Event()
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                break
        return self.revision(kinds)


class SqliteObjects:
    """An `ObjectClient` over one SQLite file (see the module docstring for the rules)."""

    def __init__(self, path: Path, admissions: Iterable[Admission] = ()) -> None:
        self.path = path
        self.changes = ChangeFeed()
        self.admissions = list(admissions)
        self._db = _connect(path)
        self._db.executescript(_SCHEMA)
        self._seed_revisions()

    def close(self) -> None:
        self._db.close()

    def _seed_revisions(self) -> None:
        """After a restart, waiters compare against the stored revision, not zero."""
        current = self._counter()
        for group, kind in self._db.execute("SELECT DISTINCT api_group, kind FROM objects"):
            self.changes.publish((group, kind), current)

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        stored = self._read(_key(kind, namespace, name))
        return _as(kind, stored) if stored is not None else None

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        group, kind_name = version_free(kind)
        query = "SELECT body FROM objects WHERE api_group = ? AND kind = ?"
        arguments: list[str] = [group, kind_name]
        if namespace is not None and (group, kind_name) not in CLUSTER_SCOPED_KINDS:
            query += " AND namespace = ?"
            arguments.append(namespace)
        rows = self._execute(query + " ORDER BY namespace, name", arguments).fetchall()
        found = (json.loads(body) for (body,) in rows)
        return [_as(kind, obj) for obj in found if matches_labels(obj, labels)]

    # ---- writes ------------------------------------------------------------------------------

    async def create(self, obj: Object) -> Object:
        kind, namespace, name = _identity(obj)
        if not name:
            raise NotFoundError(f"{kind.kind} in {namespace} has no name")
        key = _key(kind, namespace, name)
        if self._read(key) is not None:
            raise ConflictError(f"{kind.kind} {namespace}/{name} already exists")
        stored = copy.deepcopy(obj)
        metadata = stored.setdefault("metadata", {})
        _place(metadata, key)
        metadata.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
        self._admit(stored, None)
        return self._store(key, stored)

    async def replace(self, obj: Object) -> Object:
        kind, namespace, name = _identity(obj)
        key = _key(kind, namespace, name)
        current = self._existing(key)
        expected = (obj.get("metadata") or {}).get("resourceVersion")
        if expected and str(expected) != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"{kind.kind} {namespace}/{name} was changed by someone else")
        stored = copy.deepcopy(obj)
        stored["metadata"] = {**current["metadata"], **stored.get("metadata", {})}
        _keep_system_fields(stored["metadata"], current["metadata"])
        stored.pop("status", None)
        if "status" in current:
            stored["status"] = current["status"]
        return self._write(key, current, stored)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        key = _key(kind, namespace, name)
        current = self._existing(key)
        patch = {field: value for field, value in patch.items() if field != "status"}
        updated = merge_patch(current, patch)
        _keep_system_fields(updated.setdefault("metadata", {}), current["metadata"])
        return self._write(key, current, updated)

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        key = _key(kind, namespace, name)
        current = self._existing(key)
        updated = copy.deepcopy(current)
        updated["status"] = merge_patch(current.get("status") or {}, status)
        return self._write(key, current, updated, spec_changed=False)

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        key = _key(kind, namespace, name)
        with self._transaction():
            deleted = self._db.execute(
                "DELETE FROM objects WHERE api_group=? AND kind=? AND namespace=? AND name=?", key
            ).rowcount
            revision = self._bump() if deleted else 0
        if deleted:
            self.changes.publish(version_free(kind), revision)
        return bool(deleted)

    async def delete_namespace_contents(self, namespace: str) -> int:
        """Delete every object in a namespace (what deleting a Namespace does); returns how many."""
        with self._transaction():
            kinds = self._db.execute(
                "SELECT DISTINCT api_group, kind FROM objects WHERE namespace = ?", (namespace,)
            ).fetchall()
            count = self._db.execute(
                "DELETE FROM objects WHERE namespace = ?", (namespace,)
            ).rowcount
            revision = self._bump() if count else 0
        for group, kind in kinds:
            self.changes.publish((group, kind), revision)
        return int(count)

    # ---- internals ---------------------------------------------------------------------------

    def _admit(self, obj: Object, current: Object | None) -> None:
        for admission in self.admissions:
            admission(obj, current)

    def _write(
        self,
        key: tuple[str, str, str, str],
        current: Object,
        updated: Object,
        spec_changed: bool = True,
    ) -> Object:
        if spec_changed:
            self._admit(updated, current)
        metadata = updated.setdefault("metadata", {})
        _place(metadata, key)
        if spec_changed and _body(updated) != _body(current):
            metadata["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return self._store(key, updated)

    def _store(self, key: tuple[str, str, str, str], obj: Object) -> Object:
        with self._transaction():
            revision = self._bump()
            obj["metadata"]["resourceVersion"] = str(revision)
            self._db.execute(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                (*key, json.dumps(obj, separators=(",", ":"), default=str)),
            )
        self.changes.publish(key[:2], revision)
        return copy.deepcopy(obj)

    def _bump(self) -> int:
        self._db.execute(
            "INSERT INTO counters VALUES ('revision', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        return self._counter()

    def _counter(self) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def _read(self, key: tuple[str, str, str, str]) -> Object | None:
        row = self._execute(
            "SELECT body FROM objects WHERE api_group=? AND kind=? AND namespace=? AND name=?", key
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _existing(self, key: tuple[str, str, str, str]) -> Object:
        current = self._read(key)
        if current is None:
            namespace = f"{key[2]}/" if key[2] else ""
            raise NotFoundError(f"{key[1]} {namespace}{key[3]} not found")
        return current

    def _execute(self, query: str, arguments: Iterable[Any]) -> sqlite3.Cursor:
        try:
            return self._db.execute(query, tuple(arguments))
        except sqlite3.OperationalError as exc:
            raise TemporaryError(f"object store {self.path}: {exc}") from exc

    def _transaction(self) -> sqlite3.Connection:
        """`with self._transaction():` commits on success and rolls back on error."""
        return self._db


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    except sqlite3.Error as exc:
        raise TemporaryError(f"cannot open the object store {path}: {exc}") from exc
    return db


def _key(kind: Kind, namespace: str, name: str) -> tuple[str, str, str, str]:
    group, kind_name = version_free(kind)
    if (group, kind_name) in CLUSTER_SCOPED_KINDS:
        namespace = ""
    return (group, kind_name, namespace, name)


def _identity(obj: Object) -> tuple[Kind, str, str]:
    return kind_of(obj), namespace_of(obj), name_of(obj)


def _place(metadata: dict[str, Any], key: tuple[str, str, str, str]) -> None:
    """Namespaced objects carry their namespace; cluster-scoped ones carry none."""
    if key[2]:
        metadata["namespace"] = key[2]
    else:
        metadata.pop("namespace", None)


def _keep_system_fields(metadata: dict[str, Any], current: dict[str, Any]) -> None:
    """Fields the server owns: a client cannot change them by writing the object."""
    for field in ("uid", "creationTimestamp", "generation"):
        if field in current:
            metadata[field] = current[field]


def _body(obj: Object) -> Any:
    """What `generation` tracks: everything but metadata and status."""
    return {field: value for field, value in obj.items() if field not in ("metadata", "status")}


def _as(kind: Kind, obj: Object) -> Object:
    """The object as read at `kind`'s version: same content, the caller's apiVersion."""
    obj["apiVersion"] = kind.api_version
    return obj


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
