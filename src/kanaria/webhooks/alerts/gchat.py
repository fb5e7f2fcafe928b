"""Google Chat incoming webhooks: a `cardsV2` card, with a plain `text` for notifications.

Flagger sends the older `cards` format, which Google has deprecated; kanaria sends the current
one (a header naming the canary, the alert as a paragraph, one decorated text per field) and a
`text` line so the phone notification says what happened. The header carries no image: nothing
in an alert should depend on a third-party URL.
"""

from __future__ import annotations

from kanaria.webhooks.alerts.base import AlertMessage, Payload

_SEVERITY_LABELS = {"info": "Info", "warn": "Warning", "error": "Error"}


def payload(alert: AlertMessage) -> Payload:
    label = _SEVERITY_LABELS.get(alert.severity, alert.severity)
    message_widget = {"textParagraph": {"text": f"<b>{_escape(alert.message)}</b>"}}
    field_widgets = [
        {"decoratedText": {"topLabel": _escape(name), "text": _escape(value)}}
        for name, value in alert.fields
    ]
    return {
        "text": f"{alert.subject}: {alert.message}",
        "cardsV2": [
            {
                "cardId": f"kanaria-{alert.subject}",
                "card": {
                    "header": {"title": alert.username, "subtitle": f"{alert.subject} · {label}"},
                    "sections": [{"widgets": [message_widget, *field_widgets]}],
                },
            }
        ],
    }


def _escape(text: str) -> str:
    """Card text is HTML-ish: a `<` in a message must not become markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
