"""One release in progress, as one tick sees it: the canary, its world, and what it may do.

Phases and strategies act through a `Release` so they share the few things every step needs —
recording an event (and sending it to event webhooks), writing the status (with the `Promoted`
condition and lastTransitionTime kept consistent), running gates, sending alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from kanaria.engine.ports import EventType, HookPayload, Routes, Severity, World
from kanaria.errors import KanariaError
from kanaria.routing.affinity import cookie_fields
from kanaria.routing.base import shifts_traffic
from kanaria.spec.canary import Canary, CanarySpec, CanaryStatus, HookType, Phase, Webhook

log = logging.getLogger(__name__)

_CONDITIONS: dict[Phase, tuple[str, str]] = {
    Phase.INITIALIZING: ("Unknown", "New Deployment detected, starting initialization."),
    Phase.INITIALIZED: ("True", "Deployment initialization completed."),
    Phase.WAITING: ("Unknown", "Waiting for approval."),
    Phase.WAITING_PROMOTION: ("Unknown", "Waiting for approval."),
    Phase.PROGRESSING: ("Unknown", "New revision detected, progressing canary analysis."),
    Phase.PROMOTING: ("Unknown", "Canary analysis completed, starting primary rolling update."),
    Phase.FINALISING: ("Unknown", "Canary analysis completed, routing all traffic to primary."),
    Phase.SUCCEEDED: ("True", "Canary analysis completed successfully, promotion finished."),
    Phase.FAILED: ("False", "Canary analysis failed, Deployment scaled to zero."),
    Phase.TERMINATING: ("Unknown", "Canary is being deleted."),
    Phase.TERMINATED: ("Unknown", "Canary deleted."),
}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    hook: Webhook | None = None
    error: str = ""


class Release:
    def __init__(self, world: World, canary: Canary) -> None:
        self.world = world
        self.canary = canary

    @property
    def spec(self) -> CanarySpec:
        return self.canary.spec

    @property
    def status(self) -> CanaryStatus:
        return self.canary.status

    @property
    def phase(self) -> Phase:
        return Phase(self.canary.status.phase)

    @property
    def key(self) -> str:
        return self.canary.key

    @property
    def target_key(self) -> str:
        return f"{self.spec.target_ref.name}.{self.canary.namespace}"

    @property
    def primary_key(self) -> str:
        return f"{self.spec.target_ref.name}-primary.{self.canary.namespace}"

    def now(self) -> str:
        return self.world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    # events and alerts

    async def event(self, message: str, event_type: EventType = "Normal") -> None:
        log.info("%s: %s", self.key, message)
        await self.world.events.record(self.canary, event_type, message)
        await self._send_event_hooks(message, event_type)

    async def warn(self, message: str) -> None:
        await self.event(message, "Warning")

    async def _send_event_hooks(self, message: str, event_type: EventType) -> None:
        hooks = self.spec.analysis.hooks(HookType.EVENT)
        if not hooks and self.world.event_webhook_url:
            hooks = [Webhook(name="event", type=HookType.EVENT, url=self.world.event_webhook_url)]
        for hook in hooks:
            extra = {
                "eventMessage": message,
                "eventType": event_type,
                "timestamp": str(int(self.world.clock.now().timestamp() * 1000)),
            }
            try:
                await self.world.webhooks.call(hook, self.payload(hook, extra))
            except KanariaError as exc:
                log.warning("%s: event webhook %s failed: %s", self.key, hook.name, exc)

    async def alert(self, severity: Severity, message: str, mute: bool = False) -> None:
        if mute or self.world.notifier is None:
            return
        fields = {"Target": f"{self.spec.target_ref.kind}/{self.target_key}"}
        await self.world.notifier.alert(self.canary, severity, message, fields)

    # status

    async def set_status(self, phase: Phase | None = None, **fields: Any) -> None:
        """Write status fields (snake_case names of `CanaryStatus`) and, if given, the phase."""
        patch: dict[str, Any] = {}
        if phase is not None and phase != self.phase:
            patch.update(self._phase_patch(phase))
        elif phase is not None:
            patch["phase"] = phase.value
        for name, value in fields.items():
            setattr(self.canary.status, name, value)
            info = type(self.canary.status).model_fields[name]
            patch[info.alias or name] = _plain(value)
        if phase is not None:
            self.canary.status.phase = phase
        if patch:
            await self.world.canaries.patch_status(self.canary, patch)
        if self.world.recorder:
            self.world.recorder.canary_status(self.canary)

    def _phase_patch(self, phase: Phase) -> dict[str, Any]:
        now = self.now()
        status, message = _CONDITIONS[phase]
        condition = {
            "type": "Promoted",
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": phase.value,
            "message": message,
        }
        self.canary.status.last_transition_time = now
        return {"phase": phase.value, "lastTransitionTime": now, "conditions": [condition]}

    async def count_failed_check(self) -> None:
        await self.set_status(failed_checks=self.status.failed_checks + 1)

    # traffic

    @property
    def shifts_traffic(self) -> bool:
        """False for a router with Services only (provider `kubernetes`)."""
        return shifts_traffic(self.world.router)

    async def set_routes(self, primary: int, canary: int, mirrored: bool = False) -> None:
        """Route traffic; a router with session affinity draws or retires the release's
        cookie meanwhile (in the status it was given), saved here with the step."""
        routes = Routes(primary, canary, mirrored)
        cookies = cookie_fields(self.status)
        await self.world.router.set_routes(self.canary, routes)
        after = cookie_fields(self.status)
        moved: dict[str, Any] = {
            name: value for name, value in after.items() if value != cookies[name]
        }
        if moved:
            await self.set_status(**moved)
        if self.world.recorder:
            self.world.recorder.canary_weights(self.canary, routes)

    # webhooks

    def payload(self, hook: Webhook, extra: dict[str, str] | None = None) -> HookPayload:
        metadata = {**hook.metadata, **(extra or {})}
        return HookPayload(
            name=self.canary.name,
            namespace=self.canary.namespace,
            phase=self.phase.value,
            checksum=self.checksum(),
            metadata=metadata,
        )

    def checksum(self) -> str:
        state = {"configs": self.status.tracked_configs, "spec": self.status.last_applied_spec}
        digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
        return digest[:16]

    async def run_gate(self, hook_type: HookType) -> GateResult:
        """Call every hook of a type in order; the first failure stops the rest."""
        for hook in self.spec.analysis.hooks(hook_type):
            try:
                await self.world.webhooks.call(hook, self.payload(hook))
            except KanariaError as exc:
                return GateResult(False, hook, str(exc))
        return GateResult(True)


def _plain(value: Any) -> Any:
    """Status values as they go into YAML (models dumped by alias)."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    return value
