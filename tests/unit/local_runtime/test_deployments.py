"""The Deployment controller: Kubernetes' rolling-update arithmetic, status and conditions."""

from __future__ import annotations

import base64
import copy
import signal
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.platforms.local.deployments import (
    ReplicaSet,
    Rollout,
    SetCounts,
    resolve_fenceposts,
    rolling_step,
    scaled_value,
    template_hash,
)
from kanaria.spec.objects import CONFIGMAP, DEPLOYMENT, SECRET
from tests.unit.local_runtime.fakes import World, podinfo_deployment, with_image

# ---- arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [(3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("0%", 5, True, 0),
     ("100%", 3, False, 3), ("33%", 3, True, 1), ("33%", 3, False, 0)],
)  # fmt: skip
def test_int_or_percent_rounds_like_kubernetes(
    value: int | str, total: int, up: bool, expected: int
) -> None:
    assert scaled_value(value, total, up) == expected


def test_a_malformed_percentage_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="25 percent"):
        scaled_value("25 percent", 4, True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        (None, None, 4, (1, 1)),  # the 25 %/25 % defaults
        (None, None, 1, (1, 0)),
        (None, None, 10, (3, 2)),
        (0, 0, 3, (0, 1)),  # both zero: one may be unavailable so the rollout moves
        ("0%", "10%", 5, (0, 1)),  # 10 % of 5 rounds down to 0: the same fencepost rule
        (None, 1, 2, (1, 1)),  # the seed's podinfo
        ("50%", "50%", 3, (2, 1)),
    ],
)
def test_fenceposts_resolve_like_kubernetes(
    surge: int | str | None,
    unavailable: int | str | None,
    replicas: int,
    expected: tuple[int, int],
) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected


def simulate_rollout(replicas: int, surge: int, unavailable: int) -> list[tuple[int, int]]:
    """(old, new) desired sizes after each step, every new replica becoming available at once
    and every old replica staying available."""
    old, new = ReplicaSet("old", replicas, 1), ReplicaSet("new", 0, 2)
    steps = []
    for _ in range(50):
        counts = {"old": SetCounts(old.desired, old.desired, old.desired),
                  "new": SetCounts(new.desired, new.desired, new.desired)}  # fmt: skip
        if not rolling_step(Rollout(replicas, surge, unavailable, new, [old], counts)):
            break
        steps.append((old.desired, new.desired))
    return steps


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "steps"),
    [
        (2, 1, 0, [(2, 1), (1, 1), (1, 2), (0, 2)]),
        (2, 0, 1, [(1, 0), (1, 1), (0, 1), (0, 2)]),
        (2, 1, 1, [(2, 1), (0, 1), (0, 2)]),
        (4, 1, 1, [(4, 1), (2, 1), (2, 3), (0, 3), (0, 4)]),
        (4, 2, 0, [(4, 2), (2, 2), (2, 4), (0, 4)]),
        (3, 3, 3, [(3, 3), (0, 3)]),
    ],
)
def test_rolling_steps_stay_within_surge_and_unavailability(
    replicas: int, surge: int, unavailable: int, steps: list[tuple[int, int]]
) -> None:
    assert simulate_rollout(replicas, surge, unavailable) == steps
    for old, new in steps:
        assert old + new <= replicas + surge


def test_old_replicas_that_serve_nobody_go_first() -> None:
    old, new = ReplicaSet("old", 3, 1), ReplicaSet("new", 1, 2)
    counts = {"old": SetCounts(3, 1, 1), "new": SetCounts(1, 1, 1)}
    assert rolling_step(Rollout(3, 1, 1, new, [old], counts))
    assert old.desired == 1  # the two unavailable ones were cleaned up in one step


def test_template_hashes_are_stable_short_and_change_with_the_template() -> None:
    template = podinfo_deployment()["spec"]["template"]
    same = copy.deepcopy(template)
    assert template_hash(template) == template_hash(same)
    assert template_hash(template) != template_hash(
        with_image(podinfo_deployment(), "stefanprodan/podinfo:3.1.1")["spec"]["template"]
    )
    assert set(template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(template_hash(template)) <= 10


# ---- the controller on simulated time ----------------------------------------------------------


def available_and_progressing(status: dict[str, Any]) -> tuple[str, str]:
    reasons = {c["type"]: c["reason"] for c in status.get("conditions") or []}
    return reasons.get("Available", ""), reasons.get("Progressing", "")


def counts(status: dict[str, Any]) -> tuple[int, ...]:
    keys = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    return (*(status.get(key, 0) for key in keys), status.get("unavailableReplicas", 0))


async def test_a_deployment_comes_up_with_kubernetes_status_at_each_step(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.settle()
    replicas = world.replicas()
    assert len(replicas) == 2
    assert {r.labels["pod-template-hash"] for r in replicas} == {replicas[0].template_hash}
    assert all(r.name.startswith(f"podinfo-{r.template_hash}-") for r in replicas)
    status = await world.status()
    assert status["observedGeneration"] == 1
    assert counts(status) == (2, 2, 0, 0, 2)
    assert available_and_progressing(status) == ("MinimumReplicasUnavailable", "ReplicaSetUpdated")
    progressing = await world.condition("Progressing")
    assert (
        progressing["message"]
        == f'ReplicaSet "podinfo-{replicas[0].template_hash}" is progressing.'
    )
    await world.advance(1)  # initialDelaySeconds
    status = await world.status()
    assert counts(status) == (2, 2, 2, 2, 0)
    assert "unavailableReplicas" not in status  # zero counts are omitted, as Kubernetes does
    assert available_and_progressing(status) == (
        "MinimumReplicasAvailable",
        "NewReplicaSetAvailable",
    )
    available = await world.condition("Available")
    assert (available["status"], available["message"]) == (
        "True",
        "Deployment has minimum availability.",
    )
    for replica in world.replicas():
        assert world.spawner.of(replica.name).env["POD_IP"] == replica.ip


async def test_a_template_change_rolls_one_replica_at_a_time_after_min_ready_seconds(
    world: World,
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await world.objects.create(podinfo_deployment(replicas=2, strategy=strategy, min_ready=5))
    await world.settle()
    await world.advance(7)
    old_hash = world.replicas()[0].template_hash
    await world.objects.replace(with_image(await world.deployment(), "stefanprodan/podinfo:3.1.1"))
    history = []
    for _ in range(30):
        await world.advance(1)
        live = [r for r in world.replicas() if r.phase != "Terminating"]
        old = sum(r.template_hash == old_hash for r in live)
        status = await world.status()
        history.append((old, len(live) - old, status.get("availableReplicas", 0)))
    assert max(old + new for old, new, _ in history) == 3  # maxSurge 1
    assert min(available for _, _, available in history) >= 2  # maxUnavailable 0
    assert history[-1] == (0, 2, 2)
    changes = [step for index, step in enumerate(history) if step != history[index - 1]]
    # Scaling the old set down and the new one up happen in the same second here.
    assert [(old, new) for old, new, _ in changes] == [(2, 1), (1, 2), (0, 2)]
    first_new = next(i for i, (_, new, _) in enumerate(history) if new == 1)
    first_old_gone = next(i for i, (old, _, _) in enumerate(history) if old == 1)
    assert first_old_gone - first_new >= 6  # ready after 1 s, then available after 5 s more
    status = await world.status()
    assert status["observedGeneration"] == 2
    assert available_and_progressing(status) == (
        "MinimumReplicasAvailable",
        "NewReplicaSetAvailable",
    )


async def test_observed_generation_waits_until_the_controller_acted(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=1))
    await world.settle()
    changed = await world.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 3}})
    assert changed["metadata"]["generation"] == 2
    assert (await world.status())["observedGeneration"] == 1
    await world.settle()
    assert (await world.status())["observedGeneration"] == 2
    assert len(world.replicas()) == 3


async def test_a_new_version_that_never_gets_ready_exceeds_its_progress_deadline(
    world: World,
) -> None:
    await world.objects.create(podinfo_deployment(replicas=2, deadline=60))
    await world.settle()
    await world.advance(3)
    old_hash = world.replicas()[0].template_hash
    world.checker.answer = lambda action, ip: (
        ip in {r.ip for r in world.replicas() if r.template_hash == old_hash}
    )
    await world.objects.replace(with_image(await world.deployment(), "stefanprodan/podinfo:3.1.1"))
    await world.settle()
    created = await world.condition("Progressing")
    assert created["reason"] == "ReplicaSetUpdated"
    await world.advance(59)
    progressing = await world.condition("Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated"
    assert progressing["lastUpdateTime"] == created["lastUpdateTime"]
    await world.advance(2)
    status = await world.status()
    progressing = await world.condition("Progressing")
    new_hash = next(r.template_hash for r in world.replicas() if r.template_hash != old_hash)
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "podinfo-{new_hash}" has timed out progressing.',
    )
    assert counts(status) == (3, 2, 1, 1, 2)  # maxUnavailable 1: one old replica still serves
    assert (await world.condition("Available"))["status"] == "True"
    await world.advance(30)
    assert (await world.condition("Progressing"))["reason"] == "ProgressDeadlineExceeded"


@pytest.mark.parametrize(
    ("time_scale", "deadline", "real_seconds"),
    [(60, 60, 30.0), (2, 120, 60.0), (10, 20, 20.0), (1, 600, 600.0)],
)
async def test_the_progress_deadline_follows_the_time_scale_down_to_a_floor(
    state: Any, time_scale: float, deadline: int, real_seconds: float
) -> None:
    world = World(state, time_scale=time_scale)
    await world.objects.create(podinfo_deployment(replicas=1, deadline=deadline))
    world.checker.answer = lambda action, ip: False
    await world.settle()
    world.clock.advance(real_seconds - 0.1)
    await world.settle()
    assert (await world.condition("Progressing"))["reason"] == "ReplicaSetUpdated"
    world.clock.advance(0.2)
    await world.settle()
    assert (await world.condition("Progressing"))["reason"] == "ProgressDeadlineExceeded"


async def test_scaling_to_zero_and_back(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.settle()
    await world.advance(1)
    first_names = {r.name for r in world.replicas()}
    await world.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 0}})
    await world.settle()
    await world.advance(1)
    assert world.replicas() == []
    assert all(signal.SIGTERM in p.signals for p in world.spawner.processes)
    status = await world.status()
    assert status["observedGeneration"] == 2
    assert counts(status) == (0, 0, 0, 0, 0)
    assert available_and_progressing(status) == (
        "MinimumReplicasAvailable",
        "NewReplicaSetAvailable",
    )
    await world.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 2}})
    await world.settle()
    await world.advance(1)
    assert counts(await world.status()) == (2, 2, 2, 2, 0)
    assert len(world.spawner.running()) == 2
    assert not {r.name for r in world.replicas()} & first_names  # new replicas


async def test_recreate_stops_every_old_replica_before_starting_new_ones(world: World) -> None:
    world.spawner.ignores_sigterm = True
    deployment = podinfo_deployment(replicas=2, strategy={"type": "Recreate"})
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    await world.objects.create(deployment)
    await world.settle()
    await world.advance(1)
    await world.objects.replace(with_image(await world.deployment(), "stefanprodan/podinfo:3.1.1"))
    await world.settle()
    assert len(world.spawner.processes) == 2
    assert all(r.phase == "Terminating" for r in world.replicas())
    await world.advance(9)
    assert len(world.spawner.processes) == 2
    await world.advance(1)
    assert len(world.spawner.processes) == 4
    assert {r.phase for r in world.replicas()} == {"Running"}


async def test_deleting_a_deployment_stops_its_replicas(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.objects.create(podinfo_deployment(replicas=1, name="other"))
    await world.settle()
    await world.objects.delete(DEPLOYMENT, "test", "podinfo")
    await world.settle()
    await world.advance(1)
    assert world.replicas() == []
    assert len(world.replicas("other")) == 1


async def test_a_restarted_runtime_adopts_replicas_and_keeps_the_status(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.settle()
    await world.advance(1)
    status = await world.status()
    world.runtime = world.new_runtime()
    world.runtime.supervisor.adopt()
    await world.settle()
    await world.advance(3)
    assert len(world.spawner.processes) == 2
    assert await world.status() == status
    await world.objects.replace(with_image(await world.deployment(), "stefanprodan/podinfo:3.1.1"))
    await world.advance(5)
    assert len(world.spawner.running()) == 2
    assert counts(await world.status()) == (2, 2, 2, 2, 0)


async def test_a_template_that_cannot_run_here_reports_a_replica_failure(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=1, image="nginx:1.25"))
    await world.settle()
    failure = await world.condition("ReplicaFailure")
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert "'nginx:1.25' is not in the image catalog" in failure["message"]
    assert world.replicas() == []
    await world.objects.replace(with_image(await world.deployment(), "stefanprodan/podinfo:1"))
    await world.settle()
    conditions = {c["type"] for c in (await world.status())["conditions"]}
    assert "ReplicaFailure" not in conditions
    assert len(world.replicas()) == 1


async def test_environment_comes_from_config_maps_secrets_and_the_pod(world: World) -> None:
    await world.objects.create(CONFIGMAP.new("test", "settings", data={"LEVEL": "debug"}))
    encoded = base64.b64encode(b"s3cret").decode()
    await world.objects.create(SECRET.new("test", "token", data={"value": encoded}))
    deployment = podinfo_deployment(replicas=1)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "settings"}, "prefix": "APP_"}]
    container["env"] = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "value"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "URL", "value": "http://$(MY_IP):9898"},
        {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y",
                                                           "optional": True}}},
    ]  # fmt: skip
    await world.objects.create(deployment)
    await world.settle()
    [replica] = world.replicas()
    env = world.spawner.of(replica.name).env
    assert env["APP_LEVEL"] == "debug"
    assert env["TOKEN"] == "s3cret"
    assert env["URL"] == f"http://{replica.ip}:9898"
    assert "GONE" not in env
    assert env["PYTHONUNBUFFERED"] == "1"  # the catalog entry's image environment


async def test_a_missing_config_map_key_is_a_replica_failure(world: World) -> None:
    deployment = podinfo_deployment(replicas=1)
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}
    ]
    await world.objects.create(deployment)
    await world.settle()
    assert "ConfigMap test/absent not found" in (await world.condition("ReplicaFailure"))["message"]


async def test_a_crashing_replica_stays_counted_but_unavailable(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.settle()
    await world.advance(1)
    victim = world.replicas()[0]
    world.spawner.of(victim.name).crash()
    await world.settle()
    assert counts(await world.status()) == (2, 2, 1, 1, 1)
    await world.advance(12)
    restarted = world.runtime.supervisor.get("test", victim.name)
    assert restarted is not None
    assert restarted.restarts == 1
    assert counts(await world.status()) == (2, 2, 2, 2, 0)


async def test_an_invalid_deployment_is_left_alone_and_reported_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    broken = podinfo_deployment(replicas=1)
    broken["spec"]["selector"] = {"matchLabels": {"app": "elsewhere"}}
    await world.objects.create(broken)
    await world.settle()
    await world.settle()
    assert world.replicas() == []
    assert "status" not in await world.deployment()
    warnings = [r for r in caplog.records if "is invalid" in r.getMessage()]
    assert len(warnings) == 1
    assert "test/podinfo" in warnings[0].getMessage()
