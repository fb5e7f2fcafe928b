"""What every chat service's payload is built from: one alert, already filtered and addressed.

The per-service modules turn an `AlertMessage` into the JSON their incoming webhook expects; the
notifier (`kanaria.webhooks.notifiers`) decides who gets which alert and posts it. Keeping the
formats apart from the delivery lets each format be tested as plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Payload = dict[str, Any]


@dataclass(frozen=True)
class AlertMessage:
    """One alert about one canary, as a chat message shows it."""

    name: str
    namespace: str
    message: str
    severity: str  # info, warn or error
    fields: list[tuple[str, str]] = field(default_factory=list)
    channel: str = "general"
    username: str = "flagger"

    @property
    def subject(self) -> str:
        """`podinfo.test`: how Flagger's messages name a canary."""
        return f"{self.name}.{self.namespace}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class Service:
    """A chat service: how its payload looks and where, given the configured address, it goes."""

    payload: Callable[[AlertMessage], Payload]
    endpoint: Callable[[str], str] = lambda address: address
