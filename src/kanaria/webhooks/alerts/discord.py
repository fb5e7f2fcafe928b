"""Discord, through its Slack-compatible endpoint (`<webhook>/slack`), as Flagger does.

Discord renders a Slack attachment as an embed (colour bar, author, fields), so the payload is
Slack's; only the address changes. An address that already ends in `/slack` is used as given.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from kanaria.webhooks.alerts import slack
from kanaria.webhooks.alerts.base import AlertMessage, Payload


def endpoint(address: str) -> str:
    parts = urlsplit(address)
    if parts.path.rstrip("/").endswith("/slack"):
        return address
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))


def payload(alert: AlertMessage) -> Payload:
    return slack.payload(alert)
