"""Each chat service's payload, as its incoming webhook reads it."""

from __future__ import annotations

import pytest

from kanaria.errors import ConfigError
from kanaria.spec.templates import ALERT_PROVIDER_TYPES
from kanaria.webhooks.alerts import SERVICES, AlertMessage, discord, gchat, msteams, rocket, slack
from kanaria.webhooks.alerts import service as service_named

FIELDS = [("Target", "Deployment/podinfo.test"), ("Cluster", "eu-1")]


def message(severity: str = "info", text: str = "Promotion completed!") -> AlertMessage:
    return AlertMessage("podinfo", "test", text, severity, FIELDS, "releases", "kanaria")


@pytest.mark.parametrize(
    ("severity", "color"), [("info", "good"), ("warn", "good"), ("error", "danger")]
)
def test_slack_attachment_with_fields_and_color(severity: str, color: str) -> None:
    payload = slack.payload(message(severity))
    assert payload["channel"] == "releases"
    assert payload["username"] == "kanaria"
    [attachment] = payload["attachments"]
    assert attachment["color"] == color
    assert attachment["author_name"] == "podinfo.test"
    assert attachment["text"] == "Promotion completed!"
    assert attachment["fields"] == [
        {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
        {"title": "Cluster", "value": "eu-1", "short": False},
    ]


def test_discord_posts_slack_payload_to_its_slack_endpoint() -> None:
    assert discord.payload(message()) == slack.payload(message())
    assert discord.endpoint("https://discord.test/api/webhooks/1/abc") == (
        "https://discord.test/api/webhooks/1/abc/slack"
    )
    assert discord.endpoint("https://discord.test/api/webhooks/1/abc/slack") == (
        "https://discord.test/api/webhooks/1/abc/slack"
    )
    assert discord.endpoint("https://discord.test/api/webhooks/1/abc?wait=true") == (
        "https://discord.test/api/webhooks/1/abc/slack?wait=true"
    )


@pytest.mark.parametrize(("severity", "color"), [("warn", "#0076D7"), ("error", "#FF0000")])
def test_rocket_uses_hex_colors(severity: str, color: str) -> None:
    payload = rocket.payload(message(severity))
    assert payload["username"] == "kanaria"
    assert payload["channel"] == "releases"
    assert payload["attachments"][0]["color"] == color
    assert payload["attachments"][0]["fields"][0]["title"] == "Target"


@pytest.mark.parametrize(("severity", "color"), [("info", "0076D7"), ("error", "FF0000")])
def test_msteams_message_card_with_facts(severity: str, color: str) -> None:
    payload = msteams.payload(message(severity))
    assert payload["@type"] == "MessageCard"
    assert payload["@context"] == "http://schema.org/extensions"
    assert payload["themeColor"] == color
    assert payload["summary"] == "podinfo.test"
    [section] = payload["sections"]
    assert section["activityTitle"] == "Promotion completed!"
    assert section["facts"] == [
        {"name": "Target", "value": "Deployment/podinfo.test"},
        {"name": "Cluster", "value": "eu-1"},
    ]


def test_gchat_card_v2_with_text_and_escaped_fields() -> None:
    payload = gchat.payload(message("error", "latency <500ms & falling"))
    assert payload["text"] == "podinfo.test: latency <500ms & falling"
    [card] = payload["cardsV2"]
    assert card["card"]["header"]["subtitle"] == "podinfo.test · Error"
    widgets = card["card"]["sections"][0]["widgets"]
    assert widgets[0] == {"textParagraph": {"text": "<b>latency &lt;500ms &amp; falling</b>"}}
    assert widgets[1] == {
        "decoratedText": {"topLabel": "Target", "text": "Deployment/podinfo.test"}
    }


def test_every_alert_provider_type_has_a_service() -> None:
    assert set(SERVICES) == set(ALERT_PROVIDER_TYPES)


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: slack, msteams, discord, rocket, gchat"):
        service_named("telegram")
