"""Who hears an alert: severity filtering, providers and their Secrets, the default provider,
and the fields an alert carries."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.spec.canary import Alert
from kanaria.spec.memory import MemoryObjects
from kanaria.webhooks.notifiers import (
    AlertNotifier,
    Destination,
    admits,
    alert_fields,
    default_provider,
    secret_data,
)
from tests.unit.notify.canaries import provider, secret, seed_canary

# (subscription severity, alert severity, heard) — flagger.md §6.2
SEVERITY_TABLE = [
    ("info", "info", True),
    ("info", "warn", True),
    ("info", "error", True),
    ("warn", "info", False),
    ("warn", "warn", True),
    ("warn", "error", True),
    ("error", "info", False),
    ("error", "warn", False),
    ("error", "error", True),
]


@pytest.mark.parametrize(("subscribed", "severity", "heard"), SEVERITY_TABLE)
def test_severity_filter(subscribed: str, severity: str, heard: bool) -> None:
    alert = Alert.model_validate(
        {"name": "a", "severity": subscribed, "providerRef": {"name": "p"}}
    )
    assert admits(alert, severity) is heard


def test_omitted_severity_means_info() -> None:
    alert = Alert.model_validate({"name": "a", "providerRef": {"name": "p"}})
    assert [admits(alert, severity) for severity in ("info", "warn", "error")] == [True] * 3


def subscriptions(*entries: tuple[str, str | None, str]) -> list[dict[str, Any]]:
    result = []
    for name, severity, provider_name in entries:
        entry: dict[str, Any] = {"name": name, "providerRef": {"name": provider_name}}
        if severity is not None:
            entry["severity"] = severity
        result.append(entry)
    return result


async def store(*objects: dict[str, Any]) -> MemoryObjects:
    memory = MemoryObjects()
    for obj in objects:
        await memory.create(obj)
    return memory


async def test_destinations_follow_severity_and_provider_settings() -> None:
    objects = await store(
        provider("on-call", "slack", "http://127.0.0.1:1/hook", channel="on-call"),
        provider("team", "msteams", "http://127.0.0.1:1/teams"),
        provider("chat", "gchat", "http://127.0.0.1:1/chat"),
    )
    canary = seed_canary(
        subscriptions(("errors", "error", "on-call"), ("all", None, "team"), ("w", "warn", "chat"))
    )
    notifier = AlertNotifier(objects)
    heard = {
        severity: [d.type for d in await notifier.destinations(canary, severity)]
        for severity in ("info", "warn", "error")
    }
    assert heard == {
        "info": ["msteams"],
        "warn": ["msteams", "gchat"],
        "error": ["slack", "msteams", "gchat"],
    }
    [slack] = await notifier.destinations(
        seed_canary(subscriptions(("errors", "error", "on-call"))), "error"
    )
    assert (slack.channel, slack.username, slack.address) == (
        "on-call",
        "flagger",
        "http://127.0.0.1:1/hook",
    )


async def test_secret_address_and_token_win_over_spec_address() -> None:
    objects = await store(
        provider("slack", "slack", "http://127.0.0.1:1/ignored", secretRef={"name": "hook"}),
        secret("hook", address="http://127.0.0.1:2/real", token="s3cret"),
    )
    canary = seed_canary(subscriptions(("a", None, "slack")))
    [where] = await AlertNotifier(objects).destinations(canary, "info")
    assert (where.address, where.token) == ("http://127.0.0.1:2/real", "s3cret")


async def test_provider_in_another_namespace() -> None:
    objects = await store(provider("shared", "rocket", "http://127.0.0.1:1/r", namespace="ops"))
    canary = seed_canary([{"name": "a", "providerRef": {"name": "shared", "namespace": "ops"}}])
    [where] = await AlertNotifier(objects).destinations(canary, "info")
    assert where.type == "rocket"
    assert where.source == "alert provider shared.ops"


async def test_broken_subscriptions_are_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    objects = await store(
        provider("no-address", "slack"),
        provider("no-secret", "slack", secretRef={"name": "missing"}),
        provider("ok", "discord", "http://127.0.0.1:1/d"),
    )
    canary = seed_canary(
        subscriptions(("a", None, "gone"), ("b", None, "no-address"), ("c", None, "no-secret"))
        + subscriptions(("d", None, "ok"))
    )
    found = await AlertNotifier(objects).destinations(canary, "info")
    assert [where.type for where in found] == ["discord"]
    logged = caplog.text
    assert "alert provider gone.test not found" in logged
    assert "alert provider no-address.test has no address" in logged
    assert "secret missing.test (the provider's secretRef) not found" in logged


async def test_default_provider_only_without_subscriptions() -> None:
    default = default_provider(slack_url="http://127.0.0.1:1/s", slack_channel="deploys")
    assert default is not None
    notifier = AlertNotifier(await store(), default=default)
    assert await notifier.destinations(seed_canary(), "info") == [default]
    canary = seed_canary(subscriptions(("a", "error", "x")))
    assert await notifier.destinations(canary, "info") == []
    assert await AlertNotifier(await store()).destinations(seed_canary(), "error") == []


def test_default_provider_from_flags() -> None:
    assert default_provider() is None
    slack = default_provider(slack_url="http://s", slack_user="bot", slack_token="t")
    assert slack == Destination("slack", "http://s", "general", "bot", None, "t")
    assert default_provider(msteams_url="http://t") == Destination("msteams", "http://t")
    with pytest.raises(ConfigError, match="unknown alert provider type 'irc'"):
        Destination("irc", "http://i")


def test_new_revision_fields() -> None:
    canary = seed_canary()
    fields = alert_fields(
        canary,
        "New revision detected, progressing canary analysis.",
        {"Target": "Deployment/podinfo.test"},
        "eu-1",
    )
    assert fields == [
        ("Target", "Deployment/podinfo.test"),
        ("Failed checks threshold", "5"),
        ("Progress deadline", "60s"),
        ("Traffic routing", "Weight step: 10 max: 50"),
        ("Cluster", "eu-1"),
    ]
    assert alert_fields(canary, "Canary is waiting for approval.", {}, None) == [
        ("Target", "Deployment/podinfo.test")
    ]


def test_traffic_routing_for_each_strategy() -> None:
    canary = seed_canary()
    analysis = canary.spec.analysis
    analysis.step_weight, analysis.step_weights = None, [1, 5, 20]
    message = "New revision detected, progressing canary analysis."
    assert ("Traffic routing", "Weight steps: 1,5,20 max: 20") in alert_fields(
        canary, message, {}, None
    )
    analysis.step_weights, analysis.iterations = [], 10
    assert ("Traffic routing", "Blue/Green") in alert_fields(canary, message, {}, None)
    analysis.match = [{"headers": {"x-canary": {"exact": "1"}}}]
    assert ("Traffic routing", "A/B Testing") in alert_fields(canary, message, {}, None)


def test_secret_data_reads_base64_and_string_data() -> None:
    encoded = base64.b64encode(b"http://a").decode()
    assert secret_data({"data": {"address": encoded}, "stringData": {"token": "t"}}) == {
        "address": "http://a",
        "token": "t",
    }
    assert secret_data({"data": {"address": "%%%"}}) == {}
