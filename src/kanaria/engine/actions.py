"""Acting on a release without editing its spec: promote, abort, retry, pause, resume.

A request is two annotations on the Canary (`kanaria.dev/action` and a unique
`kanaria.dev/action-id`), so it works the same through the local API, `kubectl annotate`, or a
GitOps tool, and never changes the spec a GitOps tool would revert. The engine answers in
`status.action` (done or rejected, with a message) on its next tick; a request it cannot honour
now (promoting a canary that is not progressing) is rejected, not queued.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from kanaria.engine import messages, phases, strategies
from kanaria.engine.release import Release
from kanaria.errors import KanariaError
from kanaria.spec.canary import ActionRecord, Phase

_IN_ANALYSIS = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})
_ABORTABLE = _IN_ANALYSIS | {Phase.WAITING}


class Rejected(Exception):
    """The action cannot be done in the canary's current state."""


async def handle_request(release: Release) -> bool:
    """Carry out a pending action; True when the tick should go on afterwards."""
    request = release.canary.requested_action()
    if request is None:
        return not release.status.paused
    action_id, action = request
    handler = _HANDLERS.get(action)
    try:
        if handler is None:
            raise Rejected(f"unknown action {action!r}; known: {', '.join(_HANDLERS)}")
        message, go_on = await handler(release)
    except (Rejected, KanariaError) as exc:
        await _answer(release, action_id, action, "rejected", str(exc))
        return not release.status.paused
    await _answer(release, action_id, action, "done", message)
    return go_on


async def _answer(
    release: Release, action_id: str, action: str, result: Literal["done", "rejected"], message: str
) -> None:
    record = ActionRecord(
        id=action_id, action=action, result=result, message=message, time=release.now()
    )
    await release.set_status(action=record)


async def _pause(release: Release) -> tuple[str, bool]:
    await release.set_status(paused=True)
    await release.event(messages.paused(release.key))
    return f"{release.key} paused: the analysis holds until resumed", False


async def _resume(release: Release) -> tuple[str, bool]:
    if not release.status.paused:
        raise Rejected(f"{release.key} is not paused")
    await release.set_status(paused=False)
    await release.event(messages.resumed(release.key))
    return f"{release.key} resumed", True


async def _abort(release: Release) -> tuple[str, bool]:
    if release.phase not in _ABORTABLE:
        raise Rejected(
            f"{release.key} is {release.phase.value}: only a release in progress can be aborted"
        )
    await phases.rollback(release, messages.aborted(release.key))
    return f"{release.key} aborted: all traffic is back on the primary", False


async def _promote(release: Release) -> tuple[str, bool]:
    if release.phase not in _IN_ANALYSIS:
        raise Rejected(
            f"{release.key} is {release.phase.value}: only a progressing release can be promoted"
        )
    await release.world.target.check_primary_ready(release.canary)
    await release.world.target.check_canary_ready(release.canary)
    await release.event(messages.promotion_requested(release.key))
    await strategies.promote(release)
    return f"{release.key} promoting: the analysis is skipped, the primary is being updated", False


async def _retry(release: Release) -> tuple[str, bool]:
    if release.phase is not Phase.FAILED:
        raise Rejected(
            f"{release.key} is {release.phase.value}: only a failed release can be retried"
        )
    revision = await release.world.target.revision(release.canary)
    await release.event(messages.retrying(release.key))
    await phases.start_release(release, revision)
    return f"{release.key} retrying the release of the same revision", False


_HANDLERS: dict[str, Callable[[Release], Awaitable[tuple[str, bool]]]] = {
    "promote": _promote,
    "abort": _abort,
    "retry": _retry,
    "pause": _pause,
    "resume": _resume,
}
