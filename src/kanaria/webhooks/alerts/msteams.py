"""Microsoft Teams incoming webhooks: a MessageCard with one section of facts.

MessageCard is what Flagger sends and what Teams' incoming-webhook connectors read; the card's
summary and subtitle name the canary, its facts are the alert's fields, and its theme colour is
red for errors, blue otherwise.
"""

from __future__ import annotations

from kanaria.webhooks.alerts.base import AlertMessage, Payload

INFO_COLOR = "0076D7"
ERROR_COLOR = "FF0000"


def payload(alert: AlertMessage) -> Payload:
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": ERROR_COLOR if alert.is_error else INFO_COLOR,
        "summary": alert.subject,
        "sections": [
            {
                "activityTitle": alert.message,
                "activitySubtitle": alert.subject,
                "facts": [{"name": name, "value": value} for name, value in alert.fields],
            }
        ],
    }
