"""The chat services an `AlertProvider` can name, each with its own payload format.

One mapping, read once by the notifier: an unknown type is a configuration error that lists the
known ones (never a silent fallback to Slack).
"""

from __future__ import annotations

from kanaria.errors import ConfigError
from kanaria.webhooks.alerts import discord, gchat, msteams, rocket, slack
from kanaria.webhooks.alerts.base import AlertMessage, Payload, Service

SERVICES: dict[str, Service] = {
    "slack": Service(slack.payload),
    "msteams": Service(msteams.payload),
    "discord": Service(discord.payload, discord.endpoint),
    "rocket": Service(rocket.payload),
    "gchat": Service(gchat.payload),
}

__all__ = ["SERVICES", "AlertMessage", "Payload", "Service", "service"]


def service(type_name: str) -> Service:
    try:
        return SERVICES[type_name]
    except KeyError:
        known = ", ".join(SERVICES)
        raise ConfigError(f"unknown alert provider type {type_name!r}; known: {known}") from None
