"""Promote and abort from the browser: what the dashboard calls, and a ready-made way to do it.

The dashboard only needs `act(namespace, name, action)`; each platform may hand in its own. For
both platforms alike, `annotation_act` makes the request the way the engine reads it (the
`kanaria.dev/action` and `kanaria.dev/action-id` annotations on the Canary, see
`engine/actions.py`) and waits a little for the engine's answer in `status.action`, so the page
can say "aborted" or "rejected: not progressing" rather than only "sent".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from kanaria.errors import NotFoundError
from kanaria.spec.canary import ACTION_ANNOTATION, ACTION_ID_ANNOTATION, ACTIONS
from kanaria.spec.objects import CANARY, ObjectClient

__all__ = ["ACTIONS", "Act", "ActionResult", "Outcome", "annotation_act"]
DEFAULT_ANSWER_WAIT = 10.0
_POLL_SECONDS = 0.1


class ActionResult(Protocol):
    """What an action came to. `pending` means asked for, not yet answered by the engine."""

    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...

    @property
    def pending(self) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    pending: bool = False


Act = Callable[[str, str, str], Awaitable[ActionResult]]


def annotation_act(
    objects: ObjectClient, answer_wait: float = DEFAULT_ANSWER_WAIT
) -> Callable[[str, str, str], Awaitable[Outcome]]:
    """An `act` that annotates the Canary and waits up to `answer_wait` seconds (real time)
    for the engine's answer; after that it reports the request as pending."""

    async def act(namespace: str, name: str, action: str) -> Outcome:
        action_id = uuid.uuid4().hex[:12]
        annotations = {ACTION_ANNOTATION: action, ACTION_ID_ANNOTATION: action_id}
        await objects.patch(CANARY, namespace, name, {"metadata": {"annotations": annotations}})
        answer = await _answer(objects, namespace, name, action_id, answer_wait)
        return answer or Outcome(
            True,
            f"{action} requested for {name}.{namespace}; the controller has not answered yet",
            pending=True,
        )

    return act


async def _answer(
    objects: ObjectClient, namespace: str, name: str, action_id: str, wait: float
) -> Outcome | None:
    """The engine's answer to request `action_id`, or None if it has not come within `wait`."""
    for _ in range(max(1, int(wait / _POLL_SECONDS))):
        canary = await objects.get(CANARY, namespace, name)
        if canary is None:
            raise NotFoundError(f"canary {name}.{namespace} is gone")
        record = (canary.get("status") or {}).get("action") or {}
        if record.get("id") == action_id:
            return Outcome(record.get("result") == "done", str(record.get("message") or ""))
        await asyncio.sleep(_POLL_SECONDS)
    return None
