"""Canaries read from and written to an `ObjectClient`: the engine's `CanaryStore`.

A Canary whose spec does not validate is a `ConfigError` naming every problem; the controller
reports it on the Canary (a Warning event and `status.message`) and keeps serving the others.
"""

from __future__ import annotations

from typing import Any

from kanaria.errors import ConfigError
from kanaria.spec.canary import Canary
from kanaria.spec.documents import read_document
from kanaria.spec.objects import CANARY, Object, ObjectClient
from kanaria.workloads.events import ObjectEventRecorder


class ObjectCanaryStore:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects

    async def get(self, namespace: str, name: str) -> Canary | None:
        raw = await self.objects.get(CANARY, namespace, name)
        return None if raw is None else parse_canary(raw)

    async def patch_status(self, canary: Canary, patch: dict[str, Any]) -> None:
        await self.objects.patch_status(CANARY, canary.namespace, canary.name, patch)


def parse_canary(raw: Object) -> Canary:
    document = read_document(raw, f"canary {raw.get('metadata', {}).get('name')}", 0)
    errors = [problem for problem in document.problems if problem.severity == "error"]
    if errors or not isinstance(document.resource, Canary):
        details = "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in errors)
        raise ConfigError(f"invalid Canary: {details}")
    return document.resource


async def report_invalid(
    objects: ObjectClient, events: ObjectEventRecorder, namespace: str, name: str, error: Exception
) -> None:
    """Tell the user, on the Canary itself, why it is not processed — once per distinct error."""
    raw = await objects.get(CANARY, namespace, name)
    message = str(error)
    if raw is None or (raw.get("status") or {}).get("message") == message:
        return
    await events.record_on(raw, "Warning", message)
    await objects.patch_status(CANARY, namespace, name, {"message": message})
