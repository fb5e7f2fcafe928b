"""Webhook gates, manual rollback, revision changes, suspend, skipAnalysis, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kanaria.engine.simulated import SimulatedWorld
from kanaria.providers.base import NoValuesError
from kanaria.spec.canary import Metric
from tests.unit.engine.conftest import Rollout, seed_canary


def with_hook(name: str, hook_type: str) -> dict[str, Any]:
    document = seed_canary()
    document["spec"]["analysis"]["webhooks"].append(
        {"name": name, "type": hook_type, "url": "http://flagger-loadtester.test/gate/check"}
    )
    return document


async def test_confirm_rollout_holds_until_approved(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_hook("approval", "confirm-rollout"))
    await rollout.initialized()
    sim.webhooks.answers["approval"] = False
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.tick(3)
    assert rollout.phase == "Waiting"
    assert rollout.messages[-1] == "Halt podinfo.test advancement waiting for approval approval"
    assert "scale-from-zero" not in sim.target.calls
    sim.webhooks.answers["approval"] = True
    await rollout.tick()
    assert rollout.phase == "Progressing"
    assert rollout.messages[-2:] == [
        "Confirm-rollout check approval passed",
        "New revision detected! Scaling up podinfo.test",
    ]


async def test_confirm_traffic_increase_holds_the_weight(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_hook("more", "confirm-traffic-increase"))
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.status.get("canaryWeight") == 20)
    sim.webhooks.answers["more"] = False
    await rollout.tick(3)
    assert rollout.status["canaryWeight"] == 20
    assert rollout.messages[-1] == (
        "Halt podinfo.test advancement waiting for traffic increase approval more"
    )
    assert rollout.status["failedChecks"] == 0
    sim.webhooks.answers["more"] = True
    await rollout.until(lambda: rollout.phase == "Succeeded")


async def test_confirm_promotion_waits_at_max_weight(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_hook("promote", "confirm-promotion"))
    sim.webhooks.answers["promote"] = False
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "WaitingPromotion")
    await rollout.tick(3)
    assert rollout.phase == "WaitingPromotion"
    assert sim.router.routes.canary_weight == 50
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.0"
    sim.webhooks.answers["promote"] = True
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.1"


async def test_rollback_webhook_rolls_back_during_analysis(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout(with_hook("stop", "rollback"))
    sim.webhooks.answers["stop"] = False
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.status.get("canaryWeight") == 30)
    sim.webhooks.answers["stop"] = True
    await rollout.tick()
    assert rollout.phase == "Failed"
    assert rollout.messages[-3:] == [
        "Rollback check stop passed",
        "Rolling back podinfo.test manual webhook invoked",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert sim.router.routes.canary_weight == 0


async def test_rollback_webhook_is_honoured_while_waiting(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = with_hook("approval", "confirm-rollout")
    document["spec"]["analysis"]["webhooks"].append(
        {"name": "stop", "type": "rollback", "url": "http://flagger-loadtester.test/rollback/check"}
    )
    rollout = make_rollout(document)
    sim.webhooks.answers.update(approval=False, stop=False)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.tick(2)
    assert rollout.phase == "Waiting"
    sim.webhooks.answers["stop"] = True
    await rollout.tick()
    assert rollout.phase == "Failed"


async def test_pre_rollout_failure_counts_and_retries(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    sim.webhooks.answers["acceptance-test"] = False
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.tick(3)
    assert rollout.status["failedChecks"] == 2
    assert rollout.status["canaryWeight"] == 0
    assert rollout.messages[-1].startswith(
        "Halt podinfo.test advancement pre-rollout check acceptance-test failed"
    )
    sim.webhooks.answers["acceptance-test"] = True
    await rollout.until(lambda: rollout.phase == "Succeeded")


async def test_new_revision_mid_analysis_restarts_it(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.status.get("canaryWeight") == 30)
    rollout.set_image("stefanprodan/podinfo:3.1.2")
    await rollout.tick()
    assert rollout.messages[-1] == "New revision detected! Restarting analysis for podinfo.test"
    assert sim.router.routes.canary_weight == 0
    assert rollout.status["canaryWeight"] == 0
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.2"
    assert rollout.messages.count("Advance podinfo.test canary weight 10") == 2


async def test_config_change_is_a_new_revision(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    sim.target.configs = {"configmap/podinfo-config": "aaaa"}
    await rollout.initialized()
    sim.target.configs = {"configmap/podinfo-config": "bbbb"}
    await rollout.tick()
    assert rollout.messages[-1] == "New revision detected! Scaling up podinfo.test"


async def test_suspend_skips_every_tick(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = seed_canary()
    document["spec"]["suspend"] = True
    rollout = make_rollout(document)
    await rollout.tick(2)
    assert rollout.messages == ["skipping canary run as object is suspended"] * 2
    assert rollout.phase == ""


async def test_skip_analysis_promotes_at_once(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = seed_canary()
    document["spec"]["skipAnalysis"] = True
    rollout = make_rollout(document)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert rollout.messages[-2:] == [
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Promotion completed! Canary analysis was skipped for podinfo.test",
    ]
    assert sim.observer.measured == []


async def test_canary_past_its_progress_deadline_rolls_back(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.target.canary_pending_checks = 2
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.tick(3)
    warnings = [e.message for e in sim.events.events if e.type == "Warning"]
    assert warnings[-1].startswith("canary deployment podinfo.test not ready")
    sim.target.canary_deadline_exceeded = True
    await rollout.tick()
    assert rollout.phase == "Failed"
    assert rollout.messages[-2:] == [
        "Rolling back podinfo.test progress deadline exceeded deployment 'podinfo.test' "
        "exceeded its progress deadline",
        "Canary failed! Scaling down podinfo.test",
    ]


async def test_primary_failing_during_promotion_keeps_traffic_on_the_canary(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Promoting")
    sim.target.primary_deadline_exceeded = True
    await rollout.tick()
    assert rollout.phase == "Failed"
    assert sim.router.routes.canary_weight == 100
    assert rollout.messages[-1].startswith("Promotion of podinfo.test failed, primary not ready")


def no_values_for_duration(metric: Metric, routes: object) -> float:
    if metric.name == "request-duration":
        raise NoValuesError("no values found")
    return 100.0


async def test_on_no_data_hold_neither_advances_nor_counts(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = seed_canary()
    document["spec"]["analysis"]["metrics"][1]["onNoData"] = "hold"
    rollout = make_rollout(document)
    await rollout.initialized()
    sim.observer.script = no_values_for_duration
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.tick(8)
    assert rollout.status["canaryWeight"] == 10
    assert rollout.status["failedChecks"] == 0
    assert rollout.phase == "Progressing"


async def test_on_no_data_pass_advances(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = seed_canary()
    document["spec"]["analysis"]["metrics"][1]["onNoData"] = "pass"
    rollout = make_rollout(document)
    await rollout.initialized()
    sim.observer.script = no_values_for_duration
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Succeeded")
    duration = next(c for c in rollout.status["checks"] if c["name"] == "request-duration")
    assert duration["verdict"] == "no-data"


async def test_post_rollout_and_event_hooks(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    document = with_hook("notify", "post-rollout")
    document["spec"]["analysis"]["webhooks"].append(
        {"name": "events", "type": "event", "url": "http://127.0.0.1:1/events"}
    )
    rollout = make_rollout(document)
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Succeeded")
    post = [payload for name, payload in sim.webhooks.calls if name == "notify"]
    assert [payload.phase for payload in post] == ["Succeeded"]
    events = [payload for name, payload in sim.webhooks.calls if name == "events"]
    assert [p.metadata["eventMessage"] for p in events] == rollout.messages
    assert {p.metadata["eventType"] for p in events} == {"Normal"}


async def test_primary_past_its_deadline_during_initialization_is_reported_and_awaited(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    sim.target.primary_deadline_exceeded = True
    await rollout.tick(2)
    assert rollout.phase == ""
    assert rollout.messages[-1] == (
        "deployment 'podinfo-primary.test' exceeded its progress deadline"
    )
    sim.target.primary_deadline_exceeded = False
    await rollout.initialized()
    assert "Canary failed! Scaling down podinfo.test" not in rollout.messages
