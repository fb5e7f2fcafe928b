"""Alerts delivered to a real HTTP receiver on 127.0.0.1 during releases run by the real engine.

The receiver plays each chat service: it checks the payload the way the service would read it
(and answers 400 when a required part is missing), so a test fails on a wrong format, not only
on a wrong value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.engine.tick import advance
from kanaria.spec.canary import Metric
from kanaria.spec.memory import MemoryObjects
from kanaria.webhooks.notifiers import AlertNotifier, default_provider
from tests.unit.notify.canaries import provider, secret, seed_document

pytestmark = pytest.mark.integration

Check = Callable[[dict[str, Any]], str | None]


def _slack_problem(body: dict[str, Any]) -> str | None:
    attachments = body.get("attachments")
    if not body.get("channel") or not body.get("username") or not attachments:
        return "channel, username and attachments are required"
    first = attachments[0]
    if first.get("color") not in ("good", "danger") or not first.get("text"):
        return "attachment needs color good/danger and text"
    if not all({"title", "value", "short"} <= set(f) for f in first.get("fields", [])):
        return "fields need title, value, short"
    return None


def _rocket_problem(body: dict[str, Any]) -> str | None:
    attachments = body.get("attachments") or [{}]
    if not str(attachments[0].get("color", "")).startswith("#"):
        return "rocket attachment colors are hex"
    return None if body.get("channel") and attachments[0].get("text") else "text is required"


def _teams_problem(body: dict[str, Any]) -> str | None:
    if body.get("@type") != "MessageCard" or "@context" not in body:
        return "not a MessageCard"
    sections = body.get("sections") or [{}]
    if not sections[0].get("activityTitle") or not isinstance(sections[0].get("facts"), list):
        return "section needs activityTitle and facts"
    return None


def _gchat_problem(body: dict[str, Any]) -> str | None:
    cards = body.get("cardsV2") or []
    if not body.get("text") and not cards:
        return "text or cardsV2 is required"
    if cards and not cards[0].get("card", {}).get("sections"):
        return "card needs sections"
    return None


def _anything(body: dict[str, Any]) -> str | None:
    return None


CHECKS: dict[str, Check] = {
    "/slack": _slack_problem,
    "/discord/api/webhooks/1/abc/slack": _slack_problem,
    "/rocket": _rocket_problem,
    "/teams": _teams_problem,
    "/gchat": _gchat_problem,
}


@dataclass
class Receiver:
    url: str
    received: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for seen, body, _ in self.received if seen == path]

    def texts(self, path: str) -> list[str]:
        return [alert_text(body) for body in self.bodies(path)]


def alert_text(body: dict[str, Any]) -> str:
    if "attachments" in body:
        return str(body["attachments"][0]["text"])
    if "sections" in body:
        return str(body["sections"][0]["activityTitle"])
    return str(body["text"]).split(": ", 1)[1]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    record = Receiver("")

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        record.received.append((request.path, body, request.headers.get("Authorization", "")))
        if request.path == "/slow":
            await asyncio.sleep(30)
        if request.path == "/broken":
            return web.Response(status=500, text="receiver exploded")
        problem = CHECKS.get(request.path, _anything)(body)
        if problem:
            record.rejected.append((request.path, problem))
            return web.Response(status=400, text=problem)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    record.url = f"http://{host}:{port}"
    yield record
    await runner.cleanup()


async def release(
    notifier: AlertNotifier, document: dict[str, Any], failing: bool = False
) -> SimulatedWorld:
    """Initialize the seed canary, then release 3.1.1 (healthy or failing) to its end."""
    sim = simulated_world()
    sim.world.notifier = notifier
    if failing:
        sim.observer.script = lambda metric, routes: _failing(metric)
    canary = sim.canaries.put(document)
    for _ in range(3):
        await advance(sim.world, canary.namespace, canary.name)
        sim.clock.advance(60)
    sim.target.image = "stefanprodan/podinfo:3.1.1"
    for _ in range(20):
        await advance(sim.world, canary.namespace, canary.name)
        sim.clock.advance(60)
        if sim.canaries.status("test", "podinfo").get("phase") in ("Succeeded", "Failed"):
            break
    return sim


def _failing(metric: Metric) -> float:
    return {"request-success-rate": 80.0}.get(metric.name, 100.0)


def subscribe(*entries: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "severity": severity, "providerRef": {"name": name}}
        for name, severity in entries
    ]


async def test_every_format_is_accepted_during_a_release(receiver: Receiver) -> None:
    objects = MemoryObjects()
    for name, kind, path in [
        ("slack", "slack", "/slack"),
        ("discord", "discord", "/discord/api/webhooks/1/abc"),
        ("rocket", "rocket", "/rocket"),
        ("teams", "msteams", "/teams"),
        ("gchat", "gchat", "/gchat"),
    ]:
        await objects.create(provider(name, kind, receiver.url + path, channel="deploys"))
    entries = [(name, "info") for name in ("slack", "discord", "rocket", "teams", "gchat")]
    notifier = AlertNotifier(objects, cluster_name="eu-1")
    sim = await release(notifier, seed_document(subscribe(*entries)))
    await notifier.close()

    assert sim.canaries.status("test", "podinfo")["phase"] == "Succeeded"
    assert receiver.rejected == []
    expected = [
        "New Deployment detected, initialization completed.",
        "New revision detected, progressing canary analysis.",
        "Canary analysis completed successfully, promotion finished.",
    ]
    for path in CHECKS:
        assert receiver.texts(path) == expected, path
    [_, new_revision, _] = receiver.bodies("/teams")
    facts = {fact["name"]: fact["value"] for fact in new_revision["sections"][0]["facts"]}
    assert facts == {
        "Target": "Deployment/podinfo.test",
        "Failed checks threshold": "5",
        "Progress deadline": "60s",
        "Traffic routing": "Weight step: 10 max: 50",
        "Cluster": "eu-1",
    }
    assert {body["channel"] for body in receiver.bodies("/slack")} == {"deploys"}


async def test_severities_split_a_failed_release(receiver: Receiver) -> None:
    objects = MemoryObjects()
    for name in ("everything", "warnings", "errors"):
        await objects.create(provider(name, "slack", f"{receiver.url}/slack", channel=name))
    document = seed_document(
        subscribe(("everything", "info"), ("warnings", "warn"), ("errors", "error"))
    )
    notifier = AlertNotifier(objects)
    sim = await release(notifier, document, failing=True)
    await notifier.close()

    assert sim.canaries.status("test", "podinfo")["phase"] == "Failed"
    by_channel: dict[str, list[tuple[str, str]]] = {}
    for body in receiver.bodies("/slack"):
        attachment = body["attachments"][0]
        by_channel.setdefault(body["channel"], []).append((attachment["color"], attachment["text"]))
    threshold = ("danger", "Failed checks threshold reached 5")
    assert by_channel == {
        "everything": [
            ("good", "New Deployment detected, initialization completed."),
            ("good", "New revision detected, progressing canary analysis."),
            threshold,
        ],
        "warnings": [threshold],
        "errors": [threshold],
    }


async def test_secret_address_token_and_proxy(receiver: Receiver) -> None:
    objects = MemoryObjects()
    await objects.create(
        provider("slack", "slack", secretRef={"name": "hook"}, proxy=f"{receiver.url}")
    )
    await objects.create(secret("hook", address="http://127.0.0.1:9/slack", token="s3cret"))
    notifier = AlertNotifier(objects)
    await release(notifier, seed_document(subscribe(("slack", "info"))))
    await notifier.close()
    # the proxy (our receiver) got the requests for the Secret's address, with the token
    assert receiver.received
    assert {auth for _, _, auth in receiver.received} == {"Bearer s3cret"}
    assert {path for path, _, _ in receiver.received} == {"/slack"}


async def test_slow_and_broken_receivers_never_stop_a_release(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    objects = MemoryObjects()
    await objects.create(provider("slow", "slack", f"{receiver.url}/slow"))
    await objects.create(provider("broken", "msteams", f"{receiver.url}/broken"))
    await objects.create(provider("fine", "slack", f"{receiver.url}/slack"))
    notifier = AlertNotifier(objects, timeout=0.3)
    document = seed_document(subscribe(("slow", "info"), ("broken", "info"), ("fine", "info")))
    started = time.monotonic()
    sim = await release(notifier, document)
    elapsed = time.monotonic() - started
    await notifier.close()

    assert sim.canaries.status("test", "podinfo")["phase"] == "Succeeded"
    assert len(receiver.bodies("/slack")) == 3
    # three alerts, each waiting for the slow receiver only as long as the timeout
    assert elapsed < 3 * 0.3 + 2.0
    assert "alert to alert provider slow.test (slack) failed: no answer within 0.3s" in caplog.text
    assert "failed: status 500: receiver exploded" in caplog.text


async def test_default_provider_when_the_canary_has_no_alerts(receiver: Receiver) -> None:
    default = default_provider(
        slack_url=f"{receiver.url}/slack", slack_channel="releases", slack_user="kanaria"
    )
    notifier = AlertNotifier(MemoryObjects(), default=default)
    await release(notifier, seed_document())
    await notifier.close()
    bodies = receiver.bodies("/slack")
    assert len(bodies) == 3
    assert {(body["channel"], body["username"]) for body in bodies} == {("releases", "kanaria")}
