"""Slack incoming webhooks: one attachment, green (`good`) or red (`danger`), with fields.

The same layout as Flagger's, so channels that filter or format Flagger's alerts keep working:
`author_name` is `name.namespace`, the text is the alert, the fields are one per line.
"""

from __future__ import annotations

from kanaria.webhooks.alerts.base import AlertMessage, Payload


def color(alert: AlertMessage) -> str:
    return "danger" if alert.is_error else "good"


def attachment(alert: AlertMessage, attachment_color: str) -> Payload:
    """The Slack attachment that Slack, Rocket.Chat and Discord's Slack endpoint all read."""
    return {
        "color": attachment_color,
        "author_name": alert.subject,
        "fallback": f"{alert.subject}: {alert.message}",
        "text": alert.message,
        "mrkdwn_in": ["text"],
        "fields": [{"title": name, "value": value, "short": False} for name, value in alert.fields],
    }


def payload(alert: AlertMessage) -> Payload:
    return {
        "channel": alert.channel,
        "username": alert.username,
        "icon_emoji": ":rocket:",
        "attachments": [attachment(alert, color(alert))],
    }
