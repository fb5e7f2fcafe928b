"""The autoscaler: Kubernetes' HPA arithmetic, behaviour and status, on simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kanaria.errors import ConfigError, TemporaryError
from kanaria.platforms.local.autoscaler import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Limits,
    MetricTarget,
    PodMetric,
    ScaleHistory,
    ScalingPolicy,
    ScalingRules,
    limit_rate,
    parse_quantity,
    propose,
    record_scale,
    scaling_rules,
    stabilize,
)
from kanaria.spec.objects import DEPLOYMENT, HPA, Kind
from tests.unit.local_runtime.fakes import World, podinfo_deployment

START = datetime(2026, 1, 1, tzinfo=UTC)
CPU_99 = MetricTarget("cpu", utilization=99)


def span(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", 0.1), ("0.5", 0.5), ("1", 1.0), ("2000m", 2.0), ("64Mi", 64 * 2**20),
     ("1G", 1e9), ("1e3", 1000.0), ("1.5Gi", 1.5 * 2**30), (2, 2.0)],
)  # fmt: skip
def test_quantities_parse_into_base_units(text: Any, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


def test_a_bad_quantity_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a quantity: '100 millicores'"):
        parse_quantity("100 millicores")


def pods(*usages: float | None, request: float = 0.1, ready: bool = True) -> list[PodMetric]:
    return [PodMetric(f"p{i}", usage, request, ready) for i, usage in enumerate(usages)]


@pytest.mark.parametrize(
    ("target", "metrics", "current", "expected"),
    [
        (MetricTarget("cpu", 50), pods(0.05, 0.05), 2, (2, 50)),  # on target
        (MetricTarget("cpu", 50), pods(0.1, 0.1), 2, (4, 100)),  # ceil(2 × 100/50)
        (MetricTarget("cpu", 50), pods(0.054, 0.054), 2, (2, 54)),  # within the 10 % tolerance
        (MetricTarget("cpu", 50), pods(0.056, 0.056), 2, (3, 56)),  # just past it
        (MetricTarget("cpu", 50), pods(0.01, 0.01, 0.01, 0.01), 4, (1, 10)),
        # A replica without a sample counts as idle on the way up, as busy on the way down.
        (MetricTarget("cpu", 50), pods(0.1, 0.1, None), 3, (4, 100)),
        (MetricTarget("cpu", 50), pods(0.01, 0.01, None), 3, (3, 10)),
        (MetricTarget("cpu", 50), [*pods(0.1, 0.1), PodMetric("u", 0.5, 0.1, False)], 3, (4, 100)),
        (MetricTarget("cpu", 50), [*pods(0.01, 0.01), PodMetric("u", 0.5, 0.1, False)], 3, (1, 10)),
        (MetricTarget("cpu", average_value=0.05), pods(0.1, 0.1), 2, (4, None)),
        (MetricTarget("memory", 80), pods(60.0, 60.0, request=50.0), 2, (3, 120)),
        (CPU_99, pods(0.0001, 0.0001, request=0.01), 2, (1, 1)),
    ],
)  # fmt: skip
def test_replica_counts_follow_the_hpa_algorithm(
    target: MetricTarget, metrics: list[PodMetric], current: int, expected: tuple[int, int | None]
) -> None:
    proposal = propose(target, metrics, current)
    assert (proposal.replicas, proposal.utilization) == expected


def test_no_metrics_and_no_requests_are_errors() -> None:
    with pytest.raises(TemporaryError, match="did not receive metrics"):
        propose(CPU_99, pods(None, None), 2)
    with pytest.raises(ConfigError, match="missing request for cpu in pod p0"):
        propose(CPU_99, [PodMetric("p0", 0.1, None)], 1)


def test_behavior_defaults_and_overrides() -> None:
    assert scaling_rules(None) == (DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)
    up, down = scaling_rules(
        {
            "scaleDown": {
                "stabilizationWindowSeconds": 30,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
            },
            "scaleUp": {"selectPolicy": "Disabled"},
        }
    )
    assert down == ScalingRules(30.0, "Max", (ScalingPolicy("Pods", 1, 60.0),))
    assert up == ScalingRules(0.0, "Disabled", DEFAULT_SCALE_UP.policies)
    with pytest.raises(ConfigError, match=r"scaleUp.policies\[0\].type"):
        scaling_rules({"scaleUp": {"policies": [{"type": "Cores"}]}})


LIMITS = Limits(1, 10, DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN)


def test_scale_down_waits_for_the_highest_recommendation_of_the_window() -> None:
    history = ScaleHistory()
    assert stabilize(history, 4, 4, LIMITS, now=START, span=span) == 4
    assert stabilize(history, 2, 4, LIMITS, now=START + span(60), span=span) == 4
    assert stabilize(history, 1, 4, LIMITS, now=START + span(299), span=span) == 4
    assert stabilize(history, 1, 4, LIMITS, now=START + span(301), span=span) == 2
    assert stabilize(history, 1, 4, LIMITS, now=START + span(361), span=span) == 1


def test_scale_up_is_not_stabilized_by_default() -> None:
    history = ScaleHistory()
    stabilize(history, 1, 1, LIMITS, now=START, span=span)
    assert stabilize(history, 5, 1, LIMITS, now=START + span(1), span=span) == 5


@pytest.mark.parametrize(
    ("limits", "desired", "current", "expected"),
    [
        (LIMITS, 20, 1, (5, "ScaleUpLimit")),  # max(1 + 4 pods, 1 × 200 %)
        (LIMITS, 20, 8, (10, "TooManyReplicas")),
        (LIMITS, 3, 2, (3, "DesiredWithinRange")),
        (LIMITS, 0, 4, (1, "TooFewReplicas")),
        (Limits(1, 10, DEFAULT_SCALE_UP, ScalingRules(0, "Max", (ScalingPolicy("Pods", 1, 60),))),
         1, 4, (3, "ScaleDownLimit")),
        (Limits(1, 10, ScalingRules(0, "Disabled"), DEFAULT_SCALE_DOWN), 8, 2, (2, "ScaleUpLimit")),
    ],
)  # fmt: skip
def test_scaling_policies_and_bounds(
    limits: Limits, desired: int, current: int, expected: tuple[int, str]
) -> None:
    replicas, reason, _ = limit_rate(ScaleHistory(), desired, current, limits, now=START, span=span)
    assert (replicas, reason) == expected


def test_a_recent_scale_up_counts_against_the_policy_period() -> None:
    history = ScaleHistory()
    record_scale(history, 1, 5, START)
    assert limit_rate(history, 20, 5, LIMITS, now=START + span(10), span=span)[0] == 5
    assert limit_rate(history, 20, 5, LIMITS, now=START + span(16), span=span)[0] == 10


# ---- the controller --------------------------------------------------------------------------

V2BETA2_HPA = Kind("autoscaling/v2beta2", "HorizontalPodAutoscaler")


def seed_hpa(**spec: Any) -> dict[str, Any]:
    """The seed's HPA (seed/README.md): podinfo, 2–4 replicas, CPU at 99 %."""
    return V2BETA2_HPA.new(
        "test",
        "podinfo",
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "minReplicas": 2,
            "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 99}}}],
            **spec,
        },
    )  # fmt: skip


async def hpa_status(world: World) -> dict[str, Any]:
    stored = await world.objects.get(HPA, "test", "podinfo")
    assert stored is not None
    return dict(stored.get("status") or {})


async def replicas_wanted(world: World) -> int:
    return int((await world.deployment())["spec"]["replicas"])


async def sync(world: World, busy_cores: float, periods: int = 1) -> None:
    """`periods` HPA periods of 15 s in which every replica uses `busy_cores`."""
    for _ in range(periods):
        world.usage.burn(world.replicas(), busy_cores, 15)
        world.clock.advance(15)
        await world.settle()
        await world.runtime.autoscaler.tick()
        await world.settle()


async def test_the_seed_hpa_scales_up_under_load_and_down_after_the_window(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2, cpu="10m"))
    await world.objects.create(seed_hpa())
    await world.settle()
    await world.advance(2)
    await sync(world, busy_cores=0.001)
    assert await replicas_wanted(world) == 2
    await sync(world, busy_cores=0.001)
    status = await hpa_status(world)
    assert status["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 10, "averageValue": "1m"}}}
    ]  # fmt: skip
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 2)
    assert "lastScaleTime" not in status
    await sync(world, busy_cores=0.05)
    assert await replicas_wanted(world) == 4
    status = await hpa_status(world)
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 4)
    assert status["lastScaleTime"].startswith("2026-01-01T")
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons == {
        "AbleToScale": "SucceededRescale",
        "ScalingActive": "ValidMetricFound",
        "ScalingLimited": "TooManyReplicas",
    }
    await world.advance(2)
    assert len(world.replicas()) == 4
    await sync(world, busy_cores=0.0, periods=19)  # 285 s of the 300 s window
    assert await replicas_wanted(world) == 4
    reasons = {c["type"]: c["reason"] for c in (await hpa_status(world))["conditions"]}
    assert reasons["AbleToScale"] == "ScaleDownStabilized"
    await sync(world, busy_cores=0.0, periods=2)
    assert await replicas_wanted(world) == 2


async def test_no_scaling_while_the_target_has_zero_replicas(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=0, cpu="10m"))
    await world.objects.create(seed_hpa())
    await world.settle()
    await sync(world, busy_cores=1.0, periods=2)
    assert await replicas_wanted(world) == 0
    status = await hpa_status(world)
    assert (status["currentReplicas"], status["desiredReplicas"]) == (0, 0)
    [active] = [c for c in status["conditions"] if c["type"] == "ScalingActive"]
    assert (active["status"], active["reason"]) == ("False", "ScalingDisabled")


async def test_replicas_outside_min_and_max_are_brought_back_at_once(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=1, cpu="10m"))
    await world.objects.create(seed_hpa())
    await world.settle()
    await world.runtime.autoscaler.tick()
    assert await replicas_wanted(world) == 2


async def test_a_short_window_and_v1_hpas(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=3, cpu="100m"))
    legacy = Kind("autoscaling/v1", "HorizontalPodAutoscaler").new(
        "test",
        "podinfo",
        spec={
            "scaleTargetRef": {"kind": "Deployment", "name": "podinfo"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 50,
        },
    )
    await world.objects.create(legacy)
    await world.objects.patch(
        HPA,
        "test",
        "podinfo",
        {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}},
    )
    await world.settle()
    await world.advance(2)
    await sync(world, busy_cores=0.01, periods=2)
    assert await replicas_wanted(world) == 3  # 10 %: wants 1, but the window holds it
    await sync(world, busy_cores=0.01, periods=2)
    assert await replicas_wanted(world) == 1


async def test_a_metric_the_platform_cannot_read_is_reported_on_the_hpa(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.objects.create(
        seed_hpa(metrics=[{"type": "External", "external": {"metric": {"name": "queue"}}}])
    )
    await world.settle()
    await world.runtime.autoscaler.tick()
    [active] = [c for c in (await hpa_status(world))["conditions"] if c["type"] == "ScalingActive"]
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert "only cpu and memory Resource metrics" in active["message"]
    assert (await world.deployment())["spec"]["replicas"] == 2
    assert DEPLOYMENT.kind == "Deployment"


async def test_a_new_or_changed_hpa_wakes_the_autoscaler_but_its_own_status_does_not(
    world: World,
) -> None:
    autoscaler = world.runtime.autoscaler
    await world.objects.create(podinfo_deployment(replicas=2))
    await autoscaler.tick()
    assert not await autoscaler._specs_changed()
    await world.objects.create(seed_hpa())
    assert await autoscaler._specs_changed()
    await autoscaler.tick()  # writes the HPA's status
    assert not await autoscaler._specs_changed()
    await world.objects.patch(HPA, "test", "podinfo", {"spec": {"maxReplicas": 6}})
    assert await autoscaler._specs_changed()
