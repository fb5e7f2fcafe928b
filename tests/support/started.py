"""Waiting for a program a test started to answer, failing with its log if it dies first."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest


async def wait_until_answering(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    session: aiohttp.ClientSession,
    within: float = 10.0,
) -> None:
    """Until GET `url` answers 200; the test fails (showing `log`) if the program exits or
    does not answer `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited: {_text(log)}")
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.02)
    pytest.fail(f"{url} did not answer within {within}s: {_text(log)}")


def _text(log: Path) -> str:
    # read only when the test is failing anyway, so blocking the loop does not matter
    return log.read_text(errors="replace")
