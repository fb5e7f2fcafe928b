"""Events on a Canary, stored as core/v1 Event objects and folded the way Kubernetes folds them.

Kubernetes' client library does two things before an Event reaches the API server, and
`kubectl describe` shows the result, so kanaria does both, on both platforms:
- the same message again increments the Event's `count` ("38m (x2 over 39m)");
- once ten different messages with the same type and reason arrive within ten minutes, further
  ones are combined into one Event, "(combined from similar events): <latest message>".
This is why the seed's last line reads "(x4 over 32m) … Promotion completed!".
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from kanaria.clock import Clock
from kanaria.errors import NotFoundError
from kanaria.redaction import redact
from kanaria.spec.canary import Canary
from kanaria.spec.objects import CANARY, EVENT, Object, ObjectClient

REASON = "Synced"
COMBINED_PREFIX = "(combined from similar events): "
SIMILAR_LIMIT = 10
SIMILAR_WINDOW = timedelta(minutes=10)


CACHE_SIZE = 4096
Value = TypeVar("Value")


class LRU(Generic[Value]):
    """A dict that forgets its least recently used keys beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], Value] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> Value | None:
        if key in self._items:
            self._items.move_to_end(key)
        return self._items.get(key)

    def put(self, key: tuple[str, ...], value: Value) -> Value:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Similar:
    messages: set[str] = field(default_factory=set)
    last: datetime | None = None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectEventRecorder:
    """The engine's `EventRecorder`, writing Events through an `ObjectClient`."""

    def __init__(
        self,
        objects: ObjectClient,
        clock: Clock,
        component: str = "kanaria",
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.objects = objects
        self.clock = clock
        self.component = component
        # Bounded like client-go's caches, so a long-running operator does not grow forever.
        self._similar: LRU[_Similar] = LRU(cache_size)
        self._names: LRU[str] = LRU(cache_size)
        self._sequence = 0

    async def record(self, canary: Canary, event_type: str, message: str) -> None:
        await self.record_on(
            canary.model_dump(by_alias=True, include={"api_version", "metadata"}),
            event_type,
            message,
        )

    async def record_on(self, involved: Object, event_type: str, message: str) -> None:
        """Record an Event about any object (a Canary too broken to parse, for instance).

        The message is redacted first: a webhook's failure names its URL, which may hold a
        credential."""
        message = redact(message)
        now = self.clock.now()
        identity = _identity(involved)
        group = (identity["namespace"], identity["name"], identity["uid"], event_type, REASON)
        key, message = self._correlate(group, message, now)
        name = self._names.get(key)
        if name is not None and await self._increment(identity["namespace"], name, message, now):
            return
        self._names.put(key, await self._create(identity, event_type, message, now))

    def _correlate(
        self, group: tuple[str, ...], message: str, now: datetime
    ) -> tuple[tuple[str, ...], str]:
        similar = self._similar.get(group) or self._similar.put(group, _Similar())
        if similar.last is not None and now - similar.last > SIMILAR_WINDOW:
            similar.messages.clear()
        similar.messages.add(message)
        similar.last = now
        if len(similar.messages) < SIMILAR_LIMIT:
            return (*group, message), message
        similar.messages.discard(next(iter(similar.messages - {message}), message))
        return group, COMBINED_PREFIX + message

    async def _increment(self, namespace: str, name: str, message: str, now: datetime) -> bool:
        event = await self.objects.get(EVENT, namespace, name)
        if event is None:
            return False
        patch = {
            "count": int(event.get("count") or 1) + 1,
            "lastTimestamp": _stamp(now),
            "message": message,
        }
        try:
            await self.objects.patch(EVENT, namespace, name, patch)
        except NotFoundError:
            return False
        return True

    async def _create(
        self, identity: dict[str, str], event_type: str, message: str, now: datetime
    ) -> str:
        self._sequence += 1
        name = f"{identity['name']}.{int(now.timestamp() * 1e6):x}{self._sequence:04x}"
        event: Object = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": identity["namespace"]},
            "involvedObject": {"kind": "Canary", **identity},
            "reason": REASON,
            "message": message,
            "type": event_type,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.component,
            "firstTimestamp": _stamp(now),
            "lastTimestamp": _stamp(now),
            "count": 1,
        }
        await self.objects.create(event)
        return name


def _identity(involved: Object) -> dict[str, str]:
    metadata = involved.get("metadata") or {}
    return {
        "apiVersion": str(involved.get("apiVersion") or CANARY.api_version),
        "name": str(metadata.get("name", "")),
        "namespace": str(metadata.get("namespace") or "default"),
        "uid": str(metadata.get("uid") or ""),
    }


async def events_of(objects: ObjectClient, canary: Canary | Object) -> list[Object]:
    """The Events about a canary, oldest last-seen first (as kubectl describe lists them)."""
    if isinstance(canary, Canary):
        namespace, name = canary.namespace, canary.name
    else:
        namespace, name = canary["metadata"].get("namespace", "default"), canary["metadata"]["name"]
    events = [
        event
        for event in await objects.list(EVENT, namespace)
        if (event.get("involvedObject") or {}).get("name") == name
        and (event.get("involvedObject") or {}).get("kind") == "Canary"
    ]
    return sorted(
        events, key=lambda event: (str(event.get("lastTimestamp")), event["metadata"]["name"])
    )
