"""The webhook client against a real HTTP server on loopback: Flagger's contract, and timeouts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kanaria.spec.canary import Webhook
from kanaria.webhooks.client import HookPayload, HttpWebhookCaller, WebhookError

pytestmark = pytest.mark.integration

PAYLOAD = HookPayload("podinfo", "test", "Progressing", "abc", {"cmd": "hey"})


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.authorizations: list[str] = []
        self.answers: list[int] = []
        self.hang = False
        self.released = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.hang:
            await self.released.wait()  # until the test is over
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text=f"answered {status}")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield receiver, f"http://127.0.0.1:{port}/"
    finally:
        receiver.released.set()
        await runner.cleanup()


def hook(url: str, **fields: object) -> Webhook:
    return Webhook.model_validate({"name": "load-test", "url": url, **fields})


async def test_the_payload_is_flaggers(receiver: tuple[Receiver, str]) -> None:
    server, url = receiver
    caller = HttpWebhookCaller()
    try:
        await caller.call(hook(url), PAYLOAD)
    finally:
        await caller.close()
    assert server.bodies == [
        {
            "name": "podinfo",
            "namespace": "test",
            "phase": "Progressing",
            "checksum": "abc",
            "metadata": {"cmd": "hey"},
        }
    ]


@pytest.mark.parametrize(
    ("status", "passes"), [(200, True), (202, True), (204, False), (403, False)]
)
async def test_success_is_a_status_up_to_202(
    receiver: tuple[Receiver, str], status: int, passes: bool
) -> None:
    server, url = receiver
    server.answers = [status]
    caller = HttpWebhookCaller()
    try:
        if passes:
            await caller.call(hook(url), PAYLOAD)
        else:
            with pytest.raises(WebhookError, match=f"status {status}"):
                await caller.call(hook(url), PAYLOAD)
    finally:
        await caller.close()


async def test_a_hanging_webhook_is_cut_at_its_timeout(receiver: tuple[Receiver, str]) -> None:
    server, url = receiver
    server.hang = True
    caller = HttpWebhookCaller(min_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(WebhookError, match="timed out after 1s"):
            await caller.call(hook(url, timeout="1s"), PAYLOAD)
    finally:
        await caller.close()
    assert time.monotonic() - started < 3


async def test_retries_repeat_a_5xx(receiver: tuple[Receiver, str]) -> None:
    server, url = receiver
    server.answers = [503, 503, 200]
    caller = HttpWebhookCaller()
    try:
        await caller.call(hook(url, retries=2), PAYLOAD)
    finally:
        await caller.close()
    assert len(server.bodies) == 3


async def test_an_unreachable_webhook_is_named() -> None:
    caller = HttpWebhookCaller()
    try:
        with pytest.raises(
            WebhookError, match=re.escape("webhook load-test at http://127.0.0.1:9/ unreachable")
        ):
            await caller.call(hook("http://127.0.0.1:9/"), PAYLOAD)
    finally:
        await caller.close()


async def test_a_failing_webhooks_credentials_are_not_in_its_error() -> None:
    caller = HttpWebhookCaller()
    url = "http://hooks:pw-in-url@127.0.0.1:9/?token=tok-in-query"
    try:
        with pytest.raises(WebhookError) as failed:
            await caller.call(hook(url), PAYLOAD)
    finally:
        await caller.close()
    message = str(failed.value)
    assert "http://hooks:xxxxx@127.0.0.1:9/?token=xxxxx unreachable" in message
    assert "pw-in-url" not in message
    assert "tok-in-query" not in message


async def test_url_credentials_reach_the_receiver_as_basic_auth(
    receiver: tuple[Receiver, str],
) -> None:
    # How a Canary gives a token to kanaria's load tester: Flagger's webhook has no headers.
    server, url = receiver
    caller = HttpWebhookCaller()
    try:
        await caller.call(hook(url.replace("http://", "http://hooks:s3cret@")), PAYLOAD)
    finally:
        await caller.close()
    assert server.authorizations == ["Basic aG9va3M6czNjcmV0"]  # base64 of hooks:s3cret
