"""Real podinfo replicas run by the workload runtime: start, roll, stall, scale, restart, adopt.

Each test runs the platform at a time scale (10 means a manifest's 10 s last 1 s), so the seed's
probe and deadline settings keep their meaning and the tests stay short.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from kanaria.platforms.local.binaries import hey_path
from kanaria.platforms.local.processes import ReplicaState
from kanaria.platforms.local.state import process_start_time
from kanaria.spec.objects import DEPLOYMENT, HPA
from tests.integration.local_runtime.conftest import Platform, Starter
from tests.unit.local_runtime.fakes import podinfo_deployment, with_image

pytestmark = pytest.mark.integration


def ready(platform: Platform) -> list[ReplicaState]:
    return [r for r in platform.replicas() if r.ready]


async def test_two_replicas_come_up_ready_on_their_own_pod_ips(start_platform: Starter) -> None:
    platform = await start_platform(time_scale=10)
    await platform.objects.create(podinfo_deployment(replicas=2))
    took = await platform.available(2)
    replicas = platform.replicas()
    assert len({r.ip for r in replicas}) == 2
    for replica in replicas:
        info = await platform.info(replica)
        assert (info["version"], info["hostname"]) == ("3.1.0", replica.name)
        assert replica.pid is not None
        assert os.getsid(replica.pid) == replica.pid  # its own session
        assert replica.log_path is not None
        assert "Starting HTTP server" in replica.log_path.read_text()
    status = await platform.status()
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    print(f"2 replicas available {took:.2f}s after the Deployment was stored")


async def test_a_template_change_rolls_replicas_one_by_one_honouring_min_ready_seconds(
    start_platform: Starter,
) -> None:
    platform = await start_platform(time_scale=10)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await platform.objects.create(podinfo_deployment(replicas=2, strategy=strategy, min_ready=5))
    await platform.available(2)
    old_names = {r.name for r in platform.replicas()}
    await platform.objects.replace(
        with_image(await platform.deployment(), "stefanprodan/podinfo:3.1.1")
    )
    samples: list[tuple[float, int, int, int]] = []  # time, old live, new live, ready

    async def rolled() -> bool:
        live = [r for r in platform.replicas() if r.phase != "Terminating"]
        old = sum(r.name in old_names for r in live)
        samples.append((time.monotonic(), old, len(live) - old, len(ready(platform))))
        return (
            old == 0 and len(live) == 2 and (await platform.status()).get("availableReplicas") == 2
        )

    await platform.until(rolled, "the rollout to 3.1.1")
    assert max(old + new for _, old, new, _ in samples) <= 3  # maxSurge 1
    assert min(count for *_, count in samples) >= 2  # maxUnavailable 0: two always serve
    first_new_ready = next(t for t, old, new, count in samples if count == 3)
    first_old_gone = next(t for t, old, *_ in samples if old == 1)
    assert first_old_gone - first_new_ready >= 0.45  # minReadySeconds 5 at time scale 10
    for replica in ready(platform):
        assert (await platform.info(replica))["version"] == "3.1.1"


async def test_a_version_that_never_gets_ready_exceeds_its_progress_deadline(
    start_platform: Starter,
) -> None:
    # At time scale 1: a compressed clock never shortens a progress deadline below 30 s.
    platform = await start_platform(time_scale=1)
    await platform.objects.create(podinfo_deployment(replicas=2, deadline=3, probe_period=1))
    await platform.available(2)
    broken = with_image(await platform.deployment(), "stefanprodan/podinfo:3.1.1")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/status/503", "port": "http"},
        "periodSeconds": 1,
    }
    await platform.objects.replace(broken)

    async def stalled() -> bool:
        conditions = (await platform.status()).get("conditions") or []
        return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)

    took = await platform.until(stalled, "ProgressDeadlineExceeded")
    assert took >= 2.9  # progressDeadlineSeconds 3
    status = await platform.status()
    assert status["updatedReplicas"] == 2
    assert status["availableReplicas"] == 1  # maxUnavailable 1: the old version still serves
    [serving] = ready(platform)
    assert (await platform.info(serving))["version"] == "3.1.0"


async def test_scaling_to_zero_stops_every_process_and_scaling_back_starts_them(
    start_platform: Starter,
) -> None:
    platform = await start_platform(time_scale=10)
    await platform.objects.create(podinfo_deployment(replicas=2))
    await platform.available(2)
    pids = [(r.pid, process_start_time(r.pid)) for r in platform.replicas() if r.pid]
    await platform.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 0}})

    async def gone() -> bool:
        return not platform.replicas() and all(process_start_time(p) != s for p, s in pids)

    took = await platform.until(gone, "every replica process gone")
    assert "replicas" not in await platform.status()
    await platform.objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 2}})
    await platform.available(2)
    print(f"scaled to zero in {took:.2f}s")


async def test_a_killed_replica_is_restarted_on_the_same_pod_ip(start_platform: Starter) -> None:
    platform = await start_platform(time_scale=20)
    await platform.objects.create(podinfo_deployment(replicas=1))
    await platform.available(1)
    [victim] = platform.replicas()
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)

    async def restarted() -> bool:
        state = platform.runtime.supervisor.get("test", victim.name)
        return state is not None and state.restarts == 1 and state.ready

    took = await platform.until(restarted, "the killed replica restarted and ready")
    [again] = platform.replicas()
    assert (again.name, again.ip) == (victim.name, victim.ip)
    assert again.pid != victim.pid
    assert (await platform.info(again))["hostname"] == victim.name
    assert took >= 0.45  # the first back-off, 10 s at time scale 20
    assert victim.log_path is not None
    assert victim.log_path.with_suffix(".previous.log").exists()


async def test_a_restarted_runtime_adopts_running_replicas(start_platform: Starter) -> None:
    first = await start_platform(time_scale=10)
    await first.objects.create(podinfo_deployment(replicas=2))
    await first.available(2)
    before = {r.name: (r.pid, r.ip) for r in first.replicas()}
    await first.close()  # the control plane goes away; its replicas do not
    for pid, _ in before.values():
        assert pid is not None
        assert process_start_time(pid) is not None
    second = await start_platform(time_scale=10, state=first.state, objects=first.objects)
    await second.available(2)
    await asyncio.sleep(0.3)
    assert {r.name: (r.pid, r.ip) for r in second.replicas()} == before
    assert all(r.ready for r in second.replicas())


async def test_the_autoscaler_scales_up_under_load_and_back_down(start_platform: Starter) -> None:
    platform = await start_platform(time_scale=30)
    # Probes cost CPU too, and a time scale makes them more frequent: every 10 s at time scale
    # 30 is 3 a second, about 4m of CPU, well under the 50 % of 20m that would keep 3 replicas.
    await platform.objects.create(podinfo_deployment(replicas=1, cpu="20m", probe_period=10))
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}
    hpa_spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "minReplicas": 1,
        "maxReplicas": 3,
        "metrics": [{"type": "Resource", "resource": cpu}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
    }
    await platform.objects.create(HPA.new("test", "podinfo", spec=hpa_spec))
    await platform.available(1)
    [target] = platform.replicas()
    load = await asyncio.create_subprocess_exec(
        str(hey_path()), "-z", "4s", "-c", "4", f"http://{target.ip}:9898/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    loaded = time.monotonic()
    try:

        async def scaled_up() -> bool:
            return int((await platform.deployment())["spec"]["replicas"]) == 3

        reaction = await platform.until(scaled_up, "the HPA scaling podinfo to 3")
        await platform.available(3)
    finally:
        if load.returncode is None:
            load.kill()
        await load.wait()
    hpa: Any = await platform.objects.get(HPA, "test", "podinfo")
    assert hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] > 50

    async def scaled_down() -> bool:
        return int((await platform.deployment())["spec"]["replicas"]) == 1

    await platform.until(scaled_down, "the HPA scaling podinfo back to 1", seconds=15)
    await platform.available(1)
    print(
        f"scale-up {reaction:.2f}s after load began; whole cycle {time.monotonic() - loaded:.1f}s"
    )
