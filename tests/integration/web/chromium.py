"""Headless Chromium driven over the DevTools protocol with aiohttp's websocket client.

No browser download and no driver package: the Debian `chromium` binary, a fresh profile per
run, and the few protocol calls a test needs (navigate, evaluate, click, type, screenshot).
Clicks and typing go through `Input.*` events, as a user's would, not through `el.click()`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
]
START_SECONDS = 30.0
INSTALL_SECONDS = 900
DOC_IMAGES = Path(__file__).parents[3] / "docs" / "images"


def screenshot_path(name: str, scratch: Path) -> Path:
    """Where a test saves a screenshot: docs/images/ when KANARIA_UPDATE_SCREENSHOTS=1 (to
    refresh the committed ones), else a scratch folder, so test runs leave the tree clean."""
    if os.environ.get("KANARIA_UPDATE_SCREENSHOTS") == "1":
        return DOC_IMAGES / name
    return scratch / name


def chromium_binary() -> str:
    """The chromium binary, installed with apt-get if missing; skip (saying why) only when it
    cannot be had at all."""
    if os.environ.get("KANARIA_BROWSER_TESTS") == "0":
        pytest.skip("browser tests switched off with KANARIA_BROWSER_TESTS=0")
    found = shutil.which("chromium")
    if found:
        return found
    problem = _install_chromium()
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip(f"chromium is not installed and could not be installed: {problem}")


def _install_chromium() -> str:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get; install the Debian package chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    for command in (["apt-get", "update", "-q"], install):
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_SECONDS, env=env, check=False
        )
        if result.returncode != 0 and command is install:
            return result.stderr.strip()[-500:] or f"apt-get exited {result.returncode}"
    return ""


class Page:
    """One tab: send commands, read answers and events."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self.socket.send_json({"id": ident, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, within: float = 20.0, what: str = "") -> Any:
        """Evaluate until truthy; fail with the last value after `within` seconds."""
        deadline = time.monotonic() + within
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or expression} (last: {value!r})")

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", what=f"{url} to load")

    async def click(self, selector: str) -> None:
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def type_into(self, selector: str, text: str) -> None:
        await self.click(selector)
        await self.send("Input.insertText", text=text)

    async def screenshot(self, path: Path, size: tuple[float, float] | None = None) -> None:
        """The page as PNG: `size` (width, height) from the top left, else all of its content
        (no empty space below it)."""
        if size is None:
            metrics = await self.send("Page.getLayoutMetrics")
            content = await self.evaluate("document.body.scrollHeight")
            size = (metrics["cssContentSize"]["width"], content)
        clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        shot = await self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))

    def problems(self) -> list[str]:
        """Script errors and console errors (CSP refusals among them) seen so far."""
        found = []
        for event in self.events:
            if event["method"] == "Runtime.exceptionThrown":
                found.append(str(event["params"]["exceptionDetails"].get("text")))
            if event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                found.append(str(event["params"]["entry"].get("text")))
        return found

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile in `profile`, and its first tab."""
    process, log = await asyncio.to_thread(_launch, profile)
    try:
        async with aiohttp.ClientSession() as session:
            socket = await _first_page(session, profile / "data", process)
            page = Page(socket)
            try:
                for domain in ("Page", "Runtime", "Log"):
                    await page.send(f"{domain}.enable")
                await page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=1280,
                    height=900,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                yield page
            finally:
                await page.close()
    finally:
        _stop(process)
        log.close()


def _launch(profile: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    binary = chromium_binary()
    log = (profile / "chromium.log").open("wb")
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile / 'data'}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _first_page(
    session: aiohttp.ClientSession, data: Path, process: subprocess.Popen[bytes]
) -> aiohttp.ClientWebSocketResponse:
    port_file = data / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} (see its log)")
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text().split()[0])
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                    targets = await answer.json()
                pages = [target for target in targets if target.get("type") == "page"]
                if pages:
                    return await session.ws_connect(
                        pages[0]["webSocketDebuggerUrl"], max_msg_size=0
                    )
        await asyncio.sleep(0.1)
    raise RuntimeError(f"chromium did not open its DevTools port within {START_SECONDS:g}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the browser, then whatever is left of the process group it was started in."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
