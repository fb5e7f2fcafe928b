"""Canary releases on the local platform, end to end, with real Envoy, Prometheus, hey and the
load tester: the seed's promotion, a rollback, a control-plane crash mid-release, a revision
change mid-analysis, and actions from the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from kanaria.platforms.local.state import lock_owner, recorded_processes
from kanaria.spec.objects import CANARY, DEPLOYMENT
from tests.integration.releases.conftest import (
    INTERVAL,
    Observed,
    Platform,
    observed,
    phase_is,
    set_image,
    until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

RELEASE_LIMIT = 40 * INTERVAL  # far more than the seed's 9 intervals
SEED_RELEASE = [
    "New revision detected! Scaling up podinfo.test",
    "Starting canary analysis for podinfo.test",
    "Pre-rollout check acceptance-test passed",
    *[f"Advance podinfo.test canary weight {weight}" for weight in (10, 20, 30, 40, 50)],
    "Copying podinfo.test template spec to podinfo-primary.test",
    "Routing all traffic to primary",
    "Promotion completed! Scaling down podinfo.test",
]


def image_of(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def weight_reached(seen: Observed, weight: int) -> Any:
    async def check() -> bool:
        current = seen.weights.current
        return current is not None and current >= weight

    return check


def back_to_primary(seen: Observed) -> Any:
    async def check() -> bool:
        return seen.weights.current == 0

    return check


def failed_requests(seen: Observed) -> int:
    return sum(seen.traffic.tally.failed_by_version.values())


async def test_healthy_release_follows_the_seed(platform: Platform) -> None:
    async with platform.client() as client, observed(platform) as seen:
        await set_image(client, "stefanprodan/podinfo:3.1.1")
        await until(lambda: phase_is(client, "Succeeded"), within=RELEASE_LIMIT)
        await until(back_to_primary(seen), within=5)
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
        target = await client.get(DEPLOYMENT, "test", "podinfo")
    assert seen.events.normal() == SEED_RELEASE
    assert seen.weights.steps() == [0, 10, 20, 30, 40, 50, 0]
    assert image_of(primary) == "stefanprodan/podinfo:3.1.1"
    assert target is not None
    assert target["spec"]["replicas"] == 0
    assert seen.traffic.tally.by_version["3.1.1"] > 0
    assert failed_requests(seen) == 0


def test_describe_folds_events_like_the_seed(platform: Platform) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kanaria", "describe", "canary/podinfo", "-n", "test",
         "--state-dir", str(platform.state.root)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    lines = result.stdout[result.stdout.index("Events:") :].splitlines()
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    providers = next(line for line in lines if "all the metrics providers" in line)
    assert "(x2 over" in providers
    last = lines[-1]
    assert "(x4 over" in last
    assert last.endswith(
        "(combined from similar events): Promotion completed! Scaling down podinfo.test"
    )
    assert all(" kanaria " in line for line in lines[3:])


async def test_faulty_release_rolls_back(platform: Platform) -> None:
    async with platform.client() as client, observed(platform) as seen:
        await set_image(client, "stefanprodan/podinfo:3.1.2-faulty")
        await until(lambda: phase_is(client, "Failed"), within=RELEASE_LIMIT)
        await until(back_to_primary(seen), within=5)
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
        canary = await client.get(CANARY, "test", "podinfo")
    messages = [message for _, message in seen.events.seen]
    assert messages[-2:] == [
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    halt = "Halt podinfo.test advancement request-success-rate"
    assert any(message.startswith(halt) for message in messages), "the check said why"
    assert seen.traffic.tally.failed_by_version["3.1.2-faulty"] > 0
    assert seen.traffic.tally.failed_by_version["3.1.1"] == 0
    assert image_of(primary) == "stefanprodan/podinfo:3.1.1"
    assert canary is not None
    assert canary["status"]["failedChecks"] == 5


async def test_control_plane_killed_mid_release_resumes_at_the_same_weight(
    platform: Platform,
) -> None:
    async with platform.client() as client, observed(platform) as before:
        await set_image(client, "stefanprodan/podinfo:3.1.3")
        await until(weight_reached(before, 20), within=RELEASE_LIMIT)
        owner = lock_owner(platform.state)
        assert owner is not None
        os.kill(owner, signal.SIGKILL)
        weight_when_killed = before.weights.current
        await asyncio.sleep(2 * INTERVAL)  # the data plane serves on, at the last weights
        weight_while_down = before.weights.current
    await asyncio.to_thread(platform.restart)
    async with platform.client() as client, observed(platform) as after:
        await until(lambda: phase_is(client, "Succeeded"), within=RELEASE_LIMIT)
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
    assert weight_while_down == weight_when_killed
    resumed = [weight for weight in after.weights.steps() if weight]
    assert resumed[0] >= (weight_when_killed or 0), "the release did not start over"
    assert failed_requests(before) == 0
    assert failed_requests(after) == 0
    assert image_of(primary) == "stefanprodan/podinfo:3.1.3"


async def test_new_revision_mid_analysis_restarts_it(platform: Platform) -> None:
    async with platform.client() as client, observed(platform) as seen:
        await set_image(client, "stefanprodan/podinfo:3.1.4")
        await until(weight_reached(seen, 20), within=RELEASE_LIMIT)
        await set_image(client, "stefanprodan/podinfo:3.1.5")
        await until(lambda: phase_is(client, "Succeeded"), within=RELEASE_LIMIT)
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
    assert "New revision detected! Restarting analysis for podinfo.test" in seen.events.normal()
    assert image_of(primary) == "stefanprodan/podinfo:3.1.5"
    steps = seen.weights.steps()
    assert 0 in steps[steps.index(20) :], "traffic went back to the primary on the restart"


async def test_actions_from_the_command_line(platform: Platform) -> None:
    def kanaria(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kanaria", *argv, "canary/podinfo", "-n", "test",
             "--state-dir", str(platform.state.root), "--timeout", "20s"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    async with platform.client() as client, observed(platform) as seen:
        await set_image(client, "stefanprodan/podinfo:3.1.6")
        await until(weight_reached(seen, 10), within=RELEASE_LIMIT)
        paused = await asyncio.to_thread(kanaria, "pause")
        held = seen.weights.current
        await asyncio.sleep(3 * INTERVAL)
        still = seen.weights.current
        resumed = await asyncio.to_thread(kanaria, "resume")
        aborted = await asyncio.to_thread(kanaria, "abort")
        await until(lambda: phase_is(client, "Failed"), within=10)
        await until(back_to_primary(seen), within=5)
        rejected = await asyncio.to_thread(kanaria, "promote")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "paused" in paused.stdout
    assert still == held
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "aborted" in aborted.stdout
    assert rejected.returncode == 1
    assert "only a progressing release can be promoted" in rejected.stdout


async def test_without_prometheus_a_canary_is_never_promoted(platform: Platform) -> None:
    """Last in this module: it leaves the platform without Prometheus."""
    [prometheus] = [
        record
        for record in recorded_processes(platform.state)
        if record.name == "prometheus" and record.alive()
    ]
    async with platform.client() as client, observed(platform) as seen:
        os.kill(prometheus.pid, signal.SIGKILL)
        await set_image(client, "stefanprodan/podinfo:3.1.7")
        await until(lambda: phase_is(client, "Progressing"), within=RELEASE_LIMIT)
        await until(lambda: phase_is(client, "Failed", "Succeeded"), within=RELEASE_LIMIT)
        primary = await client.get(DEPLOYMENT, "test", "podinfo-primary")
        canary = await client.get(CANARY, "test", "podinfo")
    messages = [message for _, message in seen.events.seen]
    assert canary is not None
    assert canary["status"]["phase"] == "Failed"
    assert any("metrics provider unavailable" in message for message in messages)
    assert "Rolling back podinfo.test failed checks threshold reached 5" in messages
    assert image_of(primary) != "stefanprodan/podinfo:3.1.7"
