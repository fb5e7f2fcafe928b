"""The real podinfo app on loopback "pod IPs": its API, metrics, faults, replicas, stop."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.started import wait_until_answering

pytestmark = pytest.mark.integration

START_TIMEOUT = 10.0
SEED_FLAGS = [
    "--grpc-port=9999",
    "--grpc-service-name=podinfo",
    "--level=info",
    "--random-delay=false",
    "--random-error=false",
]


@dataclass
class Podinfo:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    metrics_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def stop(self) -> float:
        """SIGTERM, wait, and return how long the app took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started


def _pod_ip() -> str:
    # A loopback address of its own per app, as the local platform gives each replica.
    return f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _free_port(*hosts: str) -> int:
    for _ in range(50):
        port = random.randint(20000, 60000)
        if all(_port_is_free(host, port) for host in hosts):
            return port
    raise RuntimeError("no free port")


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _spawn(argv: list[str], log: Path, environ: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(argv, stderr=stderr, stdin=subprocess.DEVNULL, env=environ)


Starter = Callable[..., Awaitable[Podinfo]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture
async def start_podinfo(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[Starter]:
    started: list[Podinfo] = []

    async def start(
        *flags: str, host: str | None = None, port: int | None = None, **environ: str
    ) -> Podinfo:
        host = host or _pod_ip()
        port = port or _free_port(host)
        metrics_port = _free_port(host)
        argv = [sys.executable, "-m", "kanaria.apps.podinfo", f"--port={port}",
                f"--port-metrics={metrics_port}", f"--host={host}", *flags]  # fmt: skip
        log = tmp_path / f"podinfo-{host}-{port}.log"
        process = _spawn(argv, log, {**os.environ, **environ})
        app = Podinfo(process, host, port, metrics_port, log)
        started.append(app)
        await wait_until_answering(
            app.process, f"{app.url}/readyz", app.log, session, START_TIMEOUT
        )
        return app

    yield start
    for app in started:
        if app.process.poll() is None:
            app.stop()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_index_and_version_report_the_image_tag(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(*SEED_FLAGS, "--version-label=3.1.1", HOSTNAME="podinfo-abc12")
    status, body = await _get(session, f"{app.url}/")
    assert status == 200
    assert isinstance(body, dict)
    assert body["version"] == "3.1.1"
    assert body["hostname"] == "podinfo-abc12"
    assert body["message"] == "greetings from podinfo v3.1.1"
    assert await _get(session, f"{app.url}/version") == (
        200,
        {"version": "3.1.1", "commit": "local"},
    )


async def test_version_from_the_environment(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(PODINFO_VERSION="6.0.0")
    _, body = await _get(session, f"{app.url}/")
    assert isinstance(body, dict)
    assert body["version"] == "6.0.0"


async def test_the_seed_acceptance_test_finds_a_token(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(*SEED_FLAGS)
    async with session.post(f"{app.url}/token", data=b"test") as response:
        assert response.status == 200
        token = (await response.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{app.url}/token/validate", headers=headers) as response:
        assert (response.status, (await response.json())["token_name"]) == (200, "test")


async def test_probes_can_be_switched(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo()
    for probe in ("healthz", "readyz"):
        assert await _get(session, f"{app.url}/{probe}") == (200, {"status": "OK"})
        async with session.post(f"{app.url}/{probe}/disable") as response:
            assert response.status == 202
        assert (await _get(session, f"{app.url}/{probe}"))[0] == 503
        async with session.post(f"{app.url}/{probe}/enable") as response:
            assert response.status == 202
        assert (await _get(session, f"{app.url}/{probe}"))[0] == 200


async def test_status_delay_env_headers_echo(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(CANARY_MARK="yes")
    assert await _get(session, f"{app.url}/status/503") == (503, {"status": 503})
    started = time.monotonic()
    assert await _get(session, f"{app.url}/delay/1") == (200, {"delay": 1.0})
    assert 1.0 <= time.monotonic() - started < 3
    _, environ = await _get(session, f"{app.url}/env")
    assert isinstance(environ, list)
    assert "CANARY_MARK=yes" in environ
    async with session.get(f"{app.url}/headers", headers={"X-Request-Id": "r-1"}) as response:
        assert (await response.json())["X-Request-Id"] == ["r-1"]
    async with session.post(f"{app.url}/echo", data=b"ping") as response:
        assert (response.status, await response.read()) == (202, b"ping")


async def test_metrics_count_the_traffic(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(*SEED_FLAGS)
    for _ in range(5):
        await _get(session, f"{app.url}/")
    for code in (500, 500, 404):
        await _get(session, f"{app.url}/status/{code}")
    async with session.get(app.metrics_url) as response:
        assert response.status == 200
        text = await response.text()
    assert 'http_requests_total{status="500"} 2.0' in text
    assert 'http_requests_total{status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",path="/",status="200"} 5.0' in text
    assert 'path="/status/{code}",status="500"' in text
    assert "process_resident_memory_bytes" in text


async def test_random_errors_at_the_configured_rate(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo("--random-error=true", "--random-error-rate=0.3", "--seed=5")
    requests = 400
    statuses = [(await _get(session, f"{app.url}/"))[0] for _ in range(requests)]
    assert set(statuses) == {200, 500}
    assert abs(statuses.count(500) / requests - 0.3) < 0.08
    # Probes keep answering, or the platform would restart a merely faulty replica.
    assert all([(await _get(session, f"{app.url}/readyz"))[0] == 200 for _ in range(50)])


async def test_random_delay_slows_the_api(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    app = await start_podinfo(
        "--random-delay", "--random-delay-min=300", "--random-delay-max=300",
        "--random-delay-unit=ms",
    )  # fmt: skip
    started = time.monotonic()
    await _get(session, f"{app.url}/")
    assert time.monotonic() - started >= 0.3


async def test_two_replicas_share_a_port_on_their_own_pod_ips(
    start_podinfo: Starter, session: aiohttp.ClientSession
) -> None:
    first_ip, second_ip = _pod_ip(), _pod_ip()
    port = _free_port(first_ip, second_ip)
    first = await start_podinfo(host=first_ip, port=port, HOSTNAME="podinfo-1")
    second = await start_podinfo("--version-label=3.1.1", host=second_ip, port=port,
                                 HOSTNAME="podinfo-2")  # fmt: skip
    _, first_body = await _get(session, f"http://{first_ip}:{port}/")
    _, second_body = await _get(session, f"http://{second_ip}:{port}/")
    assert isinstance(first_body, dict)
    assert isinstance(second_body, dict)
    assert (first_body["hostname"], first_body["version"]) == ("podinfo-1", "3.1.0")
    assert (second_body["hostname"], second_body["version"]) == ("podinfo-2", "3.1.1")
    assert first.port == second.port


async def test_sigterm_stops_within_a_second(start_podinfo: Starter) -> None:
    app = await start_podinfo()
    assert app.stop() < 1.0
    assert app.process.returncode == 0


async def test_a_taken_port_is_reported(start_podinfo: Starter, tmp_path: Path) -> None:
    app = await start_podinfo()
    argv = [sys.executable, "-m", "kanaria.apps.podinfo", f"--port={app.port}",
            f"--host={app.host}"]  # fmt: skip
    process = _spawn(argv, tmp_path / "second.log", dict(os.environ))
    assert process.wait(timeout=30) == 1
    assert f"cannot listen on {app.host}:{app.port}" in (tmp_path / "second.log").read_text()
