"""The seed scenario on simulated time: the events of the seed, word for word."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kanaria.engine.simulated import SimulatedWorld
from kanaria.errors import TemporaryError
from kanaria.providers.base import NoValuesError, ProviderUnavailableError
from kanaria.spec.canary import Metric
from tests.unit.engine.conftest import Rollout

SEED_EVENTS = [
    "all the metrics providers are available!",
    "podinfo-primary.test not ready: waiting for rollout to finish: observed deployment "
    "generation less then desired generation",
    "all the metrics providers are available!",
    "Initialization done! podinfo.test",
    "New revision detected! Scaling up podinfo.test",
    "Starting canary analysis for podinfo.test",
    "Pre-rollout check acceptance-test passed",
    "Advance podinfo.test canary weight 10",
    "Advance podinfo.test canary weight 20",
    "Advance podinfo.test canary weight 30",
    "Advance podinfo.test canary weight 40",
    "Advance podinfo.test canary weight 50",
    "Copying podinfo.test template spec to podinfo-primary.test",
    "Routing all traffic to primary",
    "Promotion completed! Scaling down podinfo.test",
]


async def test_healthy_release_prints_the_seed_events(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    sim.target.primary_pending_checks = 1
    await rollout.initialized()
    await rollout.tick(3)  # nothing to do until the image changes
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    ticks = await rollout.until(lambda: rollout.phase == "Succeeded")

    assert rollout.messages == SEED_EVENTS
    assert [event.type for event in sim.events.events].count("Warning") == 1
    assert rollout.canary_weights == [10, 20, 30, 40, 50, 0]
    assert ticks == 9
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.1"
    assert sim.target.canary_replicas == 0
    status = rollout.status
    assert (
        status["lastPromotedSpec"] == status["lastAppliedSpec"] == "hash-stefanprodan/podinfo:3.1.1"
    )
    assert status["conditions"][0]["type"] == "Promoted"
    assert status["conditions"][0]["status"] == "True"
    assert {check["name"] for check in status["checks"]} == {
        "request-success-rate",
        "request-duration",
    }


async def test_load_test_hook_runs_every_analysed_interval(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Succeeded")

    assert sim.webhooks.called("acceptance-test") == 1
    # weights 20..50 and the promotion check each follow an analysed interval
    assert sim.webhooks.called("load-test") == 5
    payload = sim.webhooks.calls[0][1]
    assert payload.name == "podinfo"
    assert payload.namespace == "test"
    assert payload.phase == "Progressing"
    assert payload.metadata["type"] == "bash"


def failing_success_rate(metric: Metric, routes: object) -> float:
    return 90.0 if metric.name == "request-success-rate" else 100.0


async def test_five_failed_checks_roll_back(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = failing_success_rate
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Failed")

    halts = [m for m in rollout.messages if m.startswith("Halt podinfo.test advancement")]
    assert halts == ["Halt podinfo.test advancement request-success-rate 90.00% < 99%"] * 5
    assert rollout.messages[-2:] == [
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert sim.router.routes.canary_weight == 0
    assert sim.target.canary_replicas == 0
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.0"
    assert rollout.status["failedChecks"] == 5
    assert rollout.status["conditions"][0]["status"] == "False"


async def test_failed_release_waits_for_the_next_revision(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = failing_success_rate
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Failed")
    events_after_failure = len(rollout.messages)
    await rollout.tick(3)
    assert len(rollout.messages) == events_after_failure

    sim.observer.script = lambda metric, routes: 100.0
    rollout.set_image("stefanprodan/podinfo:3.1.2")
    await rollout.until(lambda: rollout.phase == "Succeeded")
    assert (
        "New revision detected! Scaling up podinfo.test" in rollout.messages[events_after_failure:]
    )


async def test_reverting_to_the_promoted_spec_starts_no_release(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = failing_success_rate
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Failed")
    count = len(rollout.messages)
    rollout.set_image("stefanprodan/podinfo:3.1.0")
    await rollout.tick(3)
    assert rollout.phase == "Failed"
    assert len(rollout.messages) == count


def no_values(metric: Metric, routes: object) -> float:
    raise NoValuesError("no values found")


async def test_no_data_counts_as_a_failed_check_by_default(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = no_values
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase == "Failed")
    assert (
        "Halt advancement no values found for prometheus metric request-success-rate probably "
        "podinfo.test is not receiving traffic: no values found"
    ) in rollout.messages


async def test_provider_down_is_reported_and_never_promotes(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    def unreachable(metric: Metric, routes: object) -> float:
        raise ProviderUnavailableError("connection refused")

    rollout = make_rollout()
    await rollout.initialized()
    sim.observer.script = unreachable
    rollout.set_image("stefanprodan/podinfo:3.1.1")
    await rollout.until(lambda: rollout.phase in ("Failed", "Succeeded"))
    assert rollout.phase == "Failed"
    assert any("metrics provider unavailable" in m for m in rollout.messages)
    assert sim.target.primary_image == "stefanprodan/podinfo:3.1.0"


async def test_provider_check_at_initialization_reports_but_does_not_block(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    sim.observer.available = False
    rollout = make_rollout()
    await rollout.initialized()
    assert rollout.messages[0].startswith("Error checking metric providers:")
    assert rollout.messages[-1] == "Initialization done! podinfo.test"


async def test_unexpected_temporary_error_leaves_status_untouched(
    sim: SimulatedWorld, make_rollout: Callable[..., Rollout]
) -> None:
    rollout = make_rollout()
    await rollout.initialized()
    before = rollout.status

    async def broken(canary: object) -> None:
        raise TemporaryError("api server unreachable")

    sim.target.initialize = broken  # type: ignore[method-assign]
    with pytest.raises(TemporaryError, match="api server unreachable"):
        await rollout.tick()
    assert rollout.status == before
