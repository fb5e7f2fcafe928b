"""promote, abort, retry, pause, resume: requested by annotation, answered in the status."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

from kanaria.engine.simulated import SimulatedWorld
from kanaria.spec.canary import ACTION_ANNOTATION, ACTION_ID_ANNOTATION
from tests.unit.engine.conftest import Rollout
from tests.unit.engine.test_seed_scenario import failing_success_rate

_ids = count(1)


def request(sim: SimulatedWorld, action: str) -> str:
    action_id = f"req-{next(_ids)}"
    document = sim.canaries.documents[("test", "podinfo")]
    annotations = document["metadata"].setdefault("annotations", {})
    annotations.update({ACTION_ANNOTATION: action, ACTION_ID_ANNOTATION: action_id})
    return action_id


def answer(rollout: Rollout) -> dict[str, str]:
    return dict(rollout.status["action"])


async def progressing(rollout: Rollout, weight: int = 20) -> None:
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.status.get("canaryWeight") == weight)


async def test_promote_skips_the_remaining_analysis(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await progressing(rollout)
    action_id = request(sim, "promote")
    await rollout.tick()
    assert answer(rollout)["id"] == action_id
    assert answer(rollout)["result"] == "done"
    assert rollout.phase == "Promoting"
    assert rollout.messages[-2:] == [
        "Promotion of podinfo.test requested: skipping the remaining analysis",
        "Copying podinfo.test template spec to podinfo-primary.test",
    ]
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.1"
    assert max(rollout.canary_weights) == 20


async def test_promote_is_rejected_when_nothing_progresses(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    request(sim, "promote")
    await rollout.tick()
    assert answer(rollout)["result"] == "rejected"
    assert "only a progressing release can be promoted" in answer(rollout)["message"]
    assert rollout.phase == "Initialized"


async def test_promote_waits_for_readiness(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await progressing(rollout)
    sim.target.canary_pending_checks = 1
    request(sim, "promote")
    await rollout.tick()
    assert answer(rollout)["result"] == "rejected"
    assert "not ready" in answer(rollout)["message"]
    assert rollout.phase == "Progressing"


async def test_abort_rolls_back_now(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await progressing(rollout, weight=30)
    request(sim, "abort")
    await rollout.tick()
    assert rollout.phase == "Failed"
    assert sim.router.routes.canary_weight == 0
    assert rollout.messages[-2:] == [
        "Rolling back podinfo.test abort requested",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert answer(rollout)["result"] == "done"


async def test_retry_restarts_a_failed_release_of_the_same_revision(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = failing_success_rate
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Failed")
    sim.observer.script = lambda metric, routes: 100.0
    await rollout.tick(2)
    assert rollout.phase == "Failed"
    request(sim, "retry")
    await rollout.tick()
    assert answer(rollout)["result"] == "done"
    assert rollout.phase == "Progressing"
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.1"


async def test_pause_holds_and_resume_continues(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await progressing(rollout)
    request(sim, "pause")
    await rollout.tick(4)
    assert rollout.status["canaryWeight"] == 20
    assert rollout.status["paused"] is True
    request(sim, "resume")
    await rollout.tick()
    assert rollout.status["paused"] is False
    assert rollout.status["canaryWeight"] == 30


async def test_an_action_is_carried_out_once(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await progressing(rollout)
    request(sim, "pause")
    await rollout.tick()
    request(sim, "resume")
    await rollout.tick(3)
    assert rollout.messages.count("Analysis of podinfo.test resumed on request") == 1


async def test_unknown_action_is_rejected(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    request(sim, "rollback-please")
    await rollout.tick()
    assert answer(rollout)["result"] == "rejected"
    assert "unknown action 'rollback-please'" in answer(rollout)["message"]
