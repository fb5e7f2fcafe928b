"""The dashboard in a real browser during a release run by the real engine on a fast clock.

Two canaries share one in-memory store: `test/podinfo` releases 3.1.1 and is held at 30 % by a
confirm-traffic-increase gate (so the test has time to act), `staging/podinfo` releases a
version that fails its success-rate check. Headless Chromium loads the pages from 127.0.0.1,
checks the weights shown against the store, presses Abort without and then with the API token,
and takes the screenshots (saved to docs/images/ with KANARIA_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kanaria.clock import SystemClock
from kanaria.spec.memory import MemoryObjects
from kanaria.web.actions import annotation_act
from kanaria.web.dashboard import dashboard_app
from tests.integration.web.chromium import chromium, screenshot_path
from tests.unit.views.releases import (
    NEW_IMAGE,
    ObjectRelease,
    TrafficGate,
    failing_success_rate,
    gated_canary,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "dashboard-test-token"
TIME_SCALE = 30.0  # the seed's one-minute interval lasts two seconds
HELD_AT = 30


async def drive(release: ObjectRelease, ticks: int = 300) -> None:
    """The engine's schedule: one tick per analysis interval; the new image after three."""
    for count in range(ticks):
        await release.tick()
        if count == 3:
            await release.set_image(NEW_IMAGE)
        await release.clock.sleep(60)


@contextlib.asynccontextmanager
async def dashboard(objects: MemoryObjects, clock: SystemClock) -> AsyncIterator[str]:
    parent = web.Application()
    app = dashboard_app(
        objects,
        token=TOKEN,
        act=annotation_act(objects, answer_wait=10.0),
        clock=clock,
        sample_interval=0.2,
    )
    parent.add_subapp("/dashboard/", app)
    runner = web.AppRunner(parent, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/dashboard/"
    finally:
        await runner.cleanup()


async def test_dashboard_in_chromium(tmp_path: Path) -> None:
    clock = SystemClock(time_scale=TIME_SCALE)
    objects = MemoryObjects()
    held = ObjectRelease(clock, namespace="test", objects=objects)
    held.webhooks.answers["traffic-gate"] = TrafficGate(steps=HELD_AT // 10)
    failing = ObjectRelease(clock, failing_success_rate(), namespace="staging", objects=objects)
    await held.setup(gated_canary())
    await failing.setup()
    engines = [asyncio.create_task(drive(release)) for release in (held, failing)]
    try:
        async with dashboard(objects, clock) as url, chromium(tmp_path) as page:
            await check_list(page, url, held, tmp_path)
            await check_canary_page(page, url, held, tmp_path)
            await abort_without_and_with_token(page, held)
            expected = "the server responded with a status of 401"  # the refused abort
            assert [problem for problem in page.problems() if expected not in problem] == []
    finally:
        for engine in engines:
            engine.cancel()
        await asyncio.gather(*engines, return_exceptions=True)


async def shown_weight(page: Any, selector: str) -> int:
    return int(
        await page.evaluate(f"document.querySelector({json.dumps(selector)}).dataset.weight")
    )


async def check_list(page: Any, url: str, held: ObjectRelease, shots: Path) -> None:
    await page.navigate(url)
    held_row = "tr[data-canary='test/podinfo']"
    failed_row = "tr[data-canary='staging/podinfo']"
    await page.wait_for(
        f"document.querySelector(\"{held_row} [data-weight='{HELD_AT}']\") !== null",
        within=60,
        what=f"test/podinfo at {HELD_AT}% in the list",
    )
    await page.wait_for(
        f"document.querySelector(\"{failed_row} [data-phase='Failed']\") !== null",
        within=60,
        what="staging/podinfo Failed in the list",
    )
    status = (await held.canary())["status"]
    assert await shown_weight(page, f"{held_row} [data-weight]") == status["canaryWeight"]
    assert await page.evaluate(f'document.querySelector("{held_row} .badge").textContent') == (
        "Progressing"
    )
    assert await shown_weight(page, f"{failed_row} [data-weight]") == 0
    await asyncio.sleep(1.2)  # one more poll, so the screenshot has fresh ages
    await page.screenshot(screenshot_path("dashboard-list.png", shots))


async def check_canary_page(page: Any, url: str, held: ObjectRelease, shots: Path) -> None:
    await page.navigate(url + "canary/test/podinfo")
    await page.wait_for(
        f"document.querySelector('#weight')?.dataset.weight === '{HELD_AT}'",
        what=f"the canary page at {HELD_AT}%",
    )
    assert await shown_weight(page, "#weight") == (await held.canary())["status"]["canaryWeight"]
    steps = await page.evaluate(
        "document.querySelector('#weight-chart .weight-line').getAttribute('d').split('V').length"
    )
    assert steps >= 4  # a step up for each of 10, 20, 30
    await page.wait_for(
        "document.querySelectorAll(\"svg[data-check='request-success-rate'] circle.pt-pass\")"
        ".length >= 2",
        what="two measured success rates",
    )
    text = await page.evaluate("document.body.innerText")
    assert "waiting for traffic increase approval traffic-gate" in text
    assert "threshold ≥ 99" in text
    await asyncio.sleep(1.2)
    await page.screenshot(screenshot_path("dashboard-canary.png", shots))


async def press_abort(page: Any) -> None:
    await page.click("#abort-button")  # arms the button
    await page.wait_for("document.querySelector('#abort-button').textContent === 'Confirm abort'")
    await page.click("#abort-button")


async def abort_without_and_with_token(page: Any, held: ObjectRelease) -> None:
    await press_abort(page)
    notice = await page.wait_for(
        "(t => t.includes('401') && t)(document.querySelector('#notice').textContent)",
        what="the 401 notice",
    )
    assert "paste the API token" in notice
    assert await held.phase() == "Progressing"

    await page.type_into("#token-input", TOKEN)
    await page.click("#token-form button[type=submit]")
    await page.wait_for(
        "document.querySelector('#token-state').textContent === 'token set'", what="token set"
    )
    assert await page.evaluate("sessionStorage.getItem('kanaria.apiToken')") == TOKEN
    await press_abort(page)
    notice = await page.wait_for(
        "(t => t.includes('aborted') && t)(document.querySelector('#notice').textContent)",
        what="the aborted notice",
    )
    assert "all traffic is back on the primary" in notice
    await page.wait_for(
        "document.querySelector('#phase .badge').dataset.phase === 'Failed'"
        " && document.querySelector('#weight').dataset.weight === '0'",
        what="the page to show Failed at 0%",
    )
    assert await held.phase() == "Failed"
