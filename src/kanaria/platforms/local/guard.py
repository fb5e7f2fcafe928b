"""One bad object must never stop a controller: it is marked, and the others go on being served.

The local platform's controllers act on every stored object of their kinds in one loop. Input is
checked before it is stored, but an object stored by an older kanaria, written by a merge patch
or simply unforeseen could still make a reconcile raise — and before this guard, one such
Deployment crash-looped the workloads controller for every Deployment. `ObjectGuard.run` is the
boundary, as a reconcile is in client-go's workqueue: whatever one object's reconcile raises
(except `TemporaryError`, which the controller retries as before) is logged and recorded as a
Warning Event on that object — once per generation and message — and the loop moves on.

The mesh is one Envoy configuration built from every Service, VirtualService, DestinationRule
and Gateway at once, so one bad object used to hold back every other change.
`build_serving_the_rest` finds the objects that make the build fail and builds without them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from kanaria.clock import Clock
from kanaria.errors import KanariaError, TemporaryError
from kanaria.redaction import redact
from kanaria.spec.objects import EVENT, Object, ObjectClient

log = logging.getLogger(__name__)

T = TypeVar("T")
REASON = "ReconcileFailed"
_MAX_MESSAGE = 1024


class ObjectGuard:
    """Runs one object's reconcile; marks the object when it fails for a reason of its own."""

    def __init__(self, objects: ObjectClient, clock: Clock, controller: str) -> None:
        self.objects = objects
        self.clock = clock
        self.controller = controller
        self._marked: dict[tuple[str, str, str], tuple[int, str]] = {}
        self._sequence = 0

    async def run(self, obj: Object, reconcile: Callable[[], Awaitable[T]], fallback: T) -> T:
        """`reconcile()`'s result, or `fallback` once the object has been marked as failing."""
        try:
            return await reconcile()
        except TemporaryError:
            raise
        except Exception as exc:
            await self.mark(obj, f"{type(exc).__name__}: {exc}")
            return fallback

    async def mark(self, obj: Object, reason: str) -> None:
        """Log and record `reason` on `obj`, unless this generation was marked with it already."""
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        key = (str(obj.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))
        message = redact(f"the {self.controller} controller cannot act on it: {reason}")
        message = message[:_MAX_MESSAGE]
        generation = int(metadata.get("generation") or 0)
        if self._marked.get(key) == (generation, message):
            return
        self._marked[key] = (generation, message)
        log.warning("%s %s/%s: %s", *key, message)
        await self._record(obj, key, message)

    async def _record(self, obj: Object, key: tuple[str, str, str], message: str) -> None:
        kind, namespace, name = key
        self._sequence += 1
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        event = EVENT.new(
            namespace,
            f"{name[:200]}.{int(self.clock.now().timestamp() * 1e6):x}{self._sequence:04x}",
            involvedObject={
                "apiVersion": obj.get("apiVersion"),
                "kind": kind,
                "name": name,
                "namespace": namespace,
            },
            reason=REASON,
            type="Warning",
            message=message,
            count=1,
            firstTimestamp=stamp,
            lastTimestamp=stamp,
            source={"component": f"kanaria-{self.controller}"},
        )
        try:
            await self.objects.create(event)
        except (KanariaError, ValueError) as exc:  # e.g. the namespace itself is the problem
            log.warning("%s/%s: cannot record the failure as an Event: %s", namespace, name, exc)


# ---- the mesh: one configuration from many objects -------------------------------------------

ObjectKey = tuple[str, str, str]
# What translating hostile input may raise besides ConfigError: the objects are plain YAML.
TRANSLATION_FAILURES = (KanariaError, TypeError, ValueError, KeyError, AttributeError, IndexError)
MAX_EXCLUDED = 32
_NAMED = re.compile(r"^(\w+) ([^/\s]+)/(\S+): ")

MeshBuild = Callable[[frozenset[ObjectKey]], Awaitable[T]]


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    namespace = str(metadata.get("namespace") or "default")
    return str(obj.get("kind")), namespace, str(metadata.get("name"))


async def build_serving_the_rest(
    build: MeshBuild[T], candidates: Sequence[Object]
) -> tuple[T, list[tuple[Object, str]]]:
    """`build()` over every object; when that fails, the same without the objects that make it
    fail (named by the error, else found by leaving one out), each returned with its reason.

    Raises the first failure when no single object explains it: the caller keeps the last good
    configuration then, as before.
    """
    excluded: list[tuple[Object, str]] = []
    first: BaseException | None = None
    while len(excluded) <= MAX_EXCLUDED:
        keys = frozenset(object_key(obj) for obj, _ in excluded)
        try:
            return await build(keys), excluded
        except TRANSLATION_FAILURES as exc:
            first = first or exc
            remaining = [obj for obj in candidates if object_key(obj) not in keys]
            culprit = _named(exc, remaining) or await _left_out(build, keys, remaining)
            if culprit is None:
                break
            excluded.append((culprit, f"{type(exc).__name__}: {exc}"))
    assert first is not None
    raise first


def _named(exc: BaseException, candidates: Sequence[Object]) -> Object | None:
    match = _NAMED.match(str(exc))
    if match is None:
        return None
    return next((obj for obj in candidates if object_key(obj) == match.groups()), None)


async def _left_out(
    build: MeshBuild[T], keys: frozenset[ObjectKey], candidates: Sequence[Object]
) -> Object | None:
    for obj in candidates:
        try:
            await build(keys | {object_key(obj)})
        except TRANSLATION_FAILURES:
            continue
        return obj
    return None
