"""Rocket.Chat incoming webhooks: Slack's message shape, with hex colours.

Rocket.Chat maps `username` to the message's alias and `icon_emoji` to its emoji, and draws
`color` as given; Flagger sends blue for information and red for errors, and so does kanaria.
"""

from __future__ import annotations

from kanaria.webhooks.alerts import slack
from kanaria.webhooks.alerts.base import AlertMessage, Payload

INFO_COLOR = "#0076D7"
ERROR_COLOR = "#FF0000"


def payload(alert: AlertMessage) -> Payload:
    return {
        "channel": alert.channel,
        "username": alert.username,
        "icon_emoji": ":rocket:",
        "text": "",
        "attachments": [slack.attachment(alert, ERROR_COLOR if alert.is_error else INFO_COLOR)],
    }
