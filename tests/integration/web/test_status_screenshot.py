"""What `kanaria status --watch` shows on a terminal, as an image for the docs.

The view of a release held at 30 % by a traffic gate is rendered the way `--watch` draws it
(rich, in colour), exported as SVG by rich, and photographed by headless Chromium
(into docs/images/status-watch.png with KANARIA_UPDATE_SCREENSHOTS=1). The SVG's web-font
links are removed first: nothing is fetched.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from kanaria.cli.status import read_view, render
from kanaria.clock import SimulatedClock
from tests.integration.web.chromium import chromium, screenshot_path
from tests.unit.views.releases import NEW_IMAGE, ObjectRelease, TrafficGate, gated_canary

pytestmark = pytest.mark.integration

COMMAND = "kanaria status canary/podinfo -n test --watch"


def offline_svg(svg: str) -> str:
    """Rich's SVG without its @font-face rules (they point at a CDN); a local monospace font."""
    svg = re.sub(r"@font-face\s*\{[^}]*\}", "", svg)
    return svg.replace("Fira Code, monospace", "DejaVu Sans Mono, monospace")


async def test_status_watch_screenshot(tmp_path: Path) -> None:
    release = ObjectRelease(SimulatedClock())
    release.webhooks.answers["traffic-gate"] = TrafficGate(steps=3)
    await release.setup(gated_canary())
    await release.run(5, until="Initialized")
    await release.set_image(NEW_IMAGE)
    await release.run(7)
    view = await read_view(release.objects, "test", "podinfo", release.clock.now())

    console = Console(
        record=True, width=110, force_terminal=True, color_system="truecolor", file=io.StringIO()
    )
    console.print(render(view))
    text = console.export_text(clear=False)
    assert "‖ waiting" in text  # the traffic gate holds the release
    assert "canary  30%" in text
    svg = offline_svg(console.export_svg(title=COMMAND))
    assert 'url("http' not in svg
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    assert box is not None
    width, height = float(box.group(1)), float(box.group(2))
    source = tmp_path / "status-watch.svg"
    await asyncio.to_thread(source.write_text, svg)

    async with chromium(tmp_path) as page:
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=int(width) + 1,
            height=int(height) + 1,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.navigate(source.as_uri())
        shot = screenshot_path("status-watch.png", tmp_path)
        await page.screenshot(shot, size=(width, height))
    assert shot.stat().st_size > 10_000
