"""`kanaria status` as a user reads it (plain mode), for a release in progress, promoted and
failed, all written by the real engine over an in-memory store."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kanaria.cli.status import gate_results, plain, read_view
from kanaria.clock import SimulatedClock
from kanaria.engine import messages
from kanaria.errors import NotFoundError
from tests.unit.views.releases import NEW_IMAGE, ObjectRelease, failing_success_rate


def console() -> Console:
    return Console(file=io.StringIO(), width=120, no_color=True, force_terminal=False)


async def started(release: ObjectRelease) -> None:
    await release.setup()
    assert await release.run(5, until="Initialized") == "Initialized"
    await release.set_image(NEW_IMAGE)


async def shown(release: ObjectRelease) -> str:
    view = await read_view(release.objects, release.namespace, "podinfo", release.clock.now())
    return plain(console(), view)


def lines_with(text: str, start: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(start)]


async def test_progressing_release() -> None:
    release = ObjectRelease(SimulatedClock())
    await started(release)
    await release.run(4)
    text = await shown(release)

    assert lines_with(text, "Status:") == ["Status:             ◌ Progressing"]
    assert lines_with(text, "Step:") == ["Step:             3/5"]
    bar = "█" * 12 + "░" * 28
    assert lines_with(text, "Traffic:") == [f"Traffic:          canary  30% {bar} primary 70%"]
    assert lines_with(text, "Failed checks:") == ["Failed checks:    0/5"]
    assert "stefanprodan/podinfo:3.1.0 (primary)" in text
    assert "stefanprodan/podinfo:3.1.1 (canary)" in text
    assert "Replicas:           primary 2/2 ready · canary 2/2 ready" in text
    [success] = lines_with(text, "request-success-rate")
    assert success.split()[2:] == [">=", "99", "✔", "pass", "60s", "ago"]
    assert float(success.split()[1]) >= 99
    [duration] = lines_with(text, "request-duration")
    assert duration.split()[2:5] == ["<=", "500", "✔"]
    assert lines_with(text, "acceptance-test") == ["acceptance-test  pre-rollout  ✔ passed 3m ago"]
    assert lines_with(text, "load-test") == ["load-test        rollout      – no result recorded"]
    assert text.rstrip().endswith("Advance podinfo.test canary weight 30")
    assert all(line == line.rstrip() for line in text.splitlines())


async def test_succeeded_release() -> None:
    release = ObjectRelease(SimulatedClock())
    await started(release)
    assert await release.run(15, until="Succeeded") == "Succeeded"
    text = await shown(release)

    assert lines_with(text, "Status:") == ["Status:             ✔ Succeeded"]
    assert lines_with(text, "Message:") == [
        "Message:            Canary analysis completed successfully, promotion finished."
    ]
    assert lines_with(text, "Traffic:") == [
        f"Traffic:          canary   0% {'░' * 40} primary 100%"
    ]
    assert "stefanprodan/podinfo:3.1.1 (primary)" in text
    assert "primary 2/2 ready · canary 0/0 ready" in text
    assert "(combined from similar events): Promotion completed! Scaling down podinfo.test" in text


async def test_failed_release() -> None:
    release = ObjectRelease(SimulatedClock(), failing_success_rate())
    await started(release)
    assert await release.run(15, until="Failed") == "Failed"
    text = await shown(release)

    assert lines_with(text, "Status:") == ["Status:             ✖ Failed"]
    assert lines_with(text, "Message:") == [
        "Message:            Canary analysis failed, Deployment scaled to zero."
    ]
    assert lines_with(text, "Failed checks:") == ["Failed checks:    5/5"]
    [success] = lines_with(text, "request-success-rate")
    assert success.split()[2:6] == [">=", "99", "✖", "fail"]
    assert float(success.split()[1]) < 99
    assert lines_with(text, "request-duration") == [
        "request-duration      –           <= 500     not measured yet"
    ]
    assert "Warning  Rolling back podinfo.test failed checks threshold reached 5" in text
    assert "Canary failed! Scaling down podinfo.test" in text
    assert "stefanprodan/podinfo:3.1.0 (primary)" in text


async def test_missing_canary() -> None:
    release = ObjectRelease(SimulatedClock())
    with pytest.raises(NotFoundError, match=r'canaries\.flagger\.app "podinfo" not found'):
        await read_view(release.objects, "test", "podinfo")


def event(message: str, stamp: str) -> dict[str, object]:
    return {"message": message, "lastTimestamp": stamp}


def test_gate_results_follow_the_latest_event_per_hook() -> None:
    key = "podinfo.test"
    events = [
        event(messages.waiting_approval(key, "approve"), "t1"),
        event(messages.hook_passed("Confirm-rollout", "approve"), "t2"),
        event(messages.pre_rollout_failed(key, "smoke", "status 500"), "t3"),
        event(messages.waiting_traffic_increase(key, "more"), "t4"),
        event(messages.waiting_promotion(key, "ship"), "t5"),
        event(messages.rollout_hook_failed(key, "load", "timeout"), "t6"),
        event(
            "(combined from similar events): " + messages.hook_passed("Pre-rollout", "smoke"), "t7"
        ),
        event(messages.post_rollout_failed("notify", "refused"), "t8"),
        event(messages.advance_weight(key, 10), "t9"),
    ]
    results = {name: (r.outcome, r.time) for name, r in gate_results(events).items()}
    assert results == {
        "approve": ("passed", "t2"),
        "smoke": ("passed", "t7"),
        "more": ("waiting", "t4"),
        "ship": ("waiting", "t5"),
        "load": ("failed", "t6"),
        "notify": ("failed", "t8"),
    }
