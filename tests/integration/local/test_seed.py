"""The seed's manifests on a real local platform: replicas start, become ready behind their
Service VIP, roll to a new image, write logs, and are all gone after `local down`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest

from kanaria.platforms.local.state import is_locked, lock_owner, recorded_processes
from tests.integration.local.conftest import SEED, Platform, leftovers

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(check: Callable[[], bool], within: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not true within {within} s")


def deployment(platform: Platform, name: str) -> dict[str, object]:
    result = platform.run("get", "deploy", name, "-n", "test", "-o", "json")
    assert result.code == 0, result.err
    loaded: dict[str, object] = json.loads(result.out)
    return loaded


def ready(platform: Platform, name: str, replicas: int, image: str | None = None) -> bool:
    obj = deployment(platform, name)
    status = obj.get("status") or {}
    assert isinstance(status, dict)
    if image is not None:
        spec = obj["spec"]
        assert isinstance(spec, dict)
        if spec["template"]["spec"]["containers"][0]["image"] != image:
            return False
    return (
        status.get("readyReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("updatedReplicas") == replicas
        and status.get("replicas") == replicas
        and status.get("observedGeneration") == (obj["metadata"] or {}).get("generation")  # type: ignore[union-attr]
    )


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as response:
        return str(response.read().decode())


def test_the_seed_runs_rolls_and_stops(platform: Platform) -> None:
    # The workloads alone: with the Canary, the canary engine would take podinfo over (that is
    # tests/integration/releases/).
    files = sorted(path for path in SEED.glob("*.yaml") if path.name != "podinfo-canary.yaml")
    assert platform.run("apply", *[arg for path in files for arg in ("-f", str(path))]).code == 0
    took = wait_for(
        lambda: ready(platform, "podinfo", 2) and ready(platform, "flagger-loadtester", 1)
    )
    print(f"seed applied → podinfo 2/2 and load tester 1/1 ready in {took:.1f} s")

    table = platform.run("get", "deploy", "-n", "test").out.splitlines()
    assert [line.split()[:4] for line in table[1:]] == [
        ["flagger-loadtester", "1/1", "1", "1"],
        ["podinfo", "2/2", "2", "2"],
    ]
    pods = platform.run("get", "pods", "-n", "test", "-o", "wide").out.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "PID"]
    assert sorted(line.split()[0].rsplit("-", 2)[0] for line in pods[1:]) == [
        "flagger-loadtester",
        "podinfo",
        "podinfo",
    ]
    assert {tuple(line.split()[1:3]) for line in pods[1:]} == {("1/1", "Running")}
    assert all(line.split()[5].startswith("127.128.") for line in pods[1:])
    service = json.loads(
        platform.run("get", "svc", "flagger-loadtester", "-n", "test", "-o", "json").out
    )
    vip = service["spec"]["clusterIP"]
    wait_for(lambda: _answers(f"http://{vip}/healthz"))

    logs = platform.run("logs", "deployment/podinfo", "-n", "test", "--tail", "5")
    assert logs.code == 0, logs.err
    assert "Found 2 pods, using pod/podinfo-" in logs.err
    assert '"version": "3.1.0"' in logs.out

    image = "stefanprodan/podinfo:3.1.1"
    assert (
        platform.run("set", "image", "deployment/podinfo", f"podinfod={image}", "-n", "test").code
        == 0
    )
    took = wait_for(lambda: ready(platform, "podinfo", 2, image))
    print(f"rolling update to 3.1.1 complete in {took:.1f} s")
    wait_for(
        lambda: '"version": "3.1.1"' in platform.run("logs", "deploy/podinfo", "-n", "test").out
    )

    described = platform.run("describe", "deployment/podinfo", "-n", "test")
    assert "Available" in described.out

    def running_replicas() -> int:
        return len(
            [
                r
                for r in recorded_processes(platform.state)
                if r.alive() and r.name.startswith("replica")
            ]
        )

    wait_for(lambda: running_replicas() == 3)  # the old version's replicas are gone
    assert platform.run("delete", "deployment/podinfo", "-n", "test").code == 0
    wait_for(
        lambda: (
            len(
                [r for r in recorded_processes(platform.state) if "podinfo" in r.name and r.alive()]
            )
            == 0
        )
    )

    kept = platform.run("logs", "deployment/podinfo", "-n", "test", "--tail", "50")
    assert '"version": "3.1.1"' in kept.out, kept.err  # the last replicas' logs are kept

    assert platform.run("local", "down").code == 0
    assert leftovers(platform.state) == []
    assert asyncio.run(_nothing_listens(vip)) is True


class Traffic(threading.Thread):
    """Requests one after another until stopped, counting the failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.sent = self.failed = 0
        self._stop_requested = threading.Event()

    def run(self) -> None:
        while not self._stop_requested.is_set():
            self.sent += 1
            self.failed += 0 if _answers(self.url) else 1
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=10)


def _answers(url: str) -> bool:
    try:
        return get_text(url).strip() == "OK"
    except OSError:
        return False


async def _nothing_listens(vip: str) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(vip, 80), 1)
    except (OSError, TimeoutError):
        return True
    writer.close()
    return False


def test_a_sigkilled_control_plane_leaves_traffic_flowing_and_adopts_replicas(
    platform: Platform,
) -> None:
    assert platform.run("apply", "-f", str(SEED)).code == 0
    wait_for(lambda: ready(platform, "podinfo", 2) and ready(platform, "flagger-loadtester", 1))
    service = json.loads(
        platform.run("get", "svc", "flagger-loadtester", "-n", "test", "-o", "json").out
    )
    url = f"http://{service['spec']['clusterIP']}/healthz"
    wait_for(lambda: _answers(url))
    before = {r.name: r.pid for r in recorded_processes(platform.state) if r.alive()}

    traffic = Traffic(url)
    traffic.start()
    try:
        owner = lock_owner(platform.state)
        assert owner is not None
        os.kill(owner, signal.SIGKILL)
        wait_for(lambda: not is_locked(platform.state))
        started = time.monotonic()
        assert platform.run("local", "up", "--gateway-port", str(platform.gateway_port)).code == 0
        wait_for(lambda: ready(platform, "podinfo", 2) and ready(platform, "flagger-loadtester", 1))
        print(f"restarted and ready again in {time.monotonic() - started:.1f} s")
        time.sleep(1.0)  # the new control plane's first mesh updates are behind us
    finally:
        traffic.stop()
    print(f"requests during the restart: {traffic.sent}, failed: {traffic.failed}")
    assert traffic.sent > 20
    assert traffic.failed == 0  # no request fails because of the restart
    after = {r.name: r.pid for r in recorded_processes(platform.state) if r.alive()}
    assert after == before  # the same Envoy, Prometheus and replica processes, adopted
    assert _answers(url)
