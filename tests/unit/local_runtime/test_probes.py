"""Probes: which manifests' probes run here and how, and the kubelet's thresholds and timing."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.platforms.local.network import ReplicaPort
from kanaria.platforms.local.probes import ProbeAction, ProbePlan, Prober, plan_probe
from kanaria.platforms.local.processes import ReplicaSpec
from kanaria.platforms.local.state import StateDir
from tests.unit.local_runtime.fakes import FakeChecker, Harness

PORTS = (ReplicaPort("http", 9898), ReplicaPort("http-metrics", 9797))


@pytest.mark.parametrize(
    ("probe", "action"),
    [
        (
            {"httpGet": {"path": "/readyz", "port": 9898}},
            ProbeAction("http", 9898, "/readyz"),
        ),
        (
            {"httpGet": {"path": "healthz", "port": "http-metrics", "scheme": "HTTPS"}},
            ProbeAction("http", 9797, "/healthz", scheme="https"),
        ),
        (
            {"httpGet": {"port": "9898", "host": "127.0.0.1", "httpHeaders": [
                {"name": "X-Probe", "value": "1"}]}},
            ProbeAction("http", 9898, "/", headers=(("X-Probe", "1"),)),
        ),
        (
            {"exec": {"command": ["podcli", "check", "http", "localhost:9898/readyz"]}},
            ProbeAction("http", 9898, "/readyz"),
        ),
        (
            {"exec": {"command": ["/usr/bin/podcli", "check", "http", "--timeout=2s",
                                  "http://localhost:9898/healthz?full=1"]}},
            ProbeAction("http", 9898, "/healthz?full=1"),
        ),
        (
            {"exec": {"command": ["podcli", "check", "tcp", "localhost:9999"]}},
            ProbeAction("tcp", 9999),
        ),
        (
            {"exec": {"command": ["wget", "--quiet", "--tries=1", "--timeout=4", "--spider",
                                  "http://localhost:8080/healthz"]}},
            ProbeAction("http", 8080, "/healthz"),
        ),
        (
            {"exec": {"command": ["curl", "-sf", "http://127.0.0.2:80/"]}},
            ProbeAction("http", 80, "/", host="127.0.0.2"),
        ),
        ({"tcpSocket": {"port": "http"}}, ProbeAction("tcp", 9898)),
    ],
)  # fmt: skip
def test_probes_of_manifests_become_network_checks_on_the_pod(
    probe: dict[str, Any], action: ProbeAction
) -> None:
    assert plan_probe(probe, PORTS, "readinessProbe").action == action


def test_probe_timing_keeps_the_manifests_numbers_and_kubernetes_defaults() -> None:
    assert plan_probe({"tcpSocket": {"port": 1}}, PORTS, "p") == ProbePlan(
        ProbeAction("tcp", 1), 0, 10, 1, 1, 3
    )
    timed = plan_probe(
        {
            "tcpSocket": {"port": 1},
            "initialDelaySeconds": 5,
            "periodSeconds": 3,
            "timeoutSeconds": 2,
            "successThreshold": 2,
            "failureThreshold": 4,
        },
        PORTS,
        "p",
    )
    assert (timed.initial_delay, timed.period, timed.timeout) == (5, 3, 2)
    assert (timed.success_threshold, timed.failure_threshold) == (2, 4)


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ({"exec": {"command": ["cat", "/tmp/healthy"]}}, r"exec probes only when they check"),
        ({"exec": {"command": ["podcli", "check", "grpc", "localhost:9999"]}}, r"exec probes"),
        ({"httpGet": {"port": "grpc"}}, r"httpGet.port: no container port named 'grpc'"),
        ({"httpGet": {"port": 80, "host": "example.com"}}, r"only reach the pod itself"),
        ({"exec": {"command": ["curl", "http://10.0.0.1/"]}}, r"only reach the pod itself"),
        ({"httpGet": {"port": 80, "scheme": "FTP"}}, r"expected HTTP or HTTPS"),
        ({"periodSeconds": 3}, r"expected httpGet, tcpSocket or exec"),
    ],
)
def test_probes_the_platform_cannot_run_are_refused_with_the_reason(
    probe: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_probe(probe, PORTS, "spec.template.spec.containers[0].readinessProbe")


def replica(readiness: dict[str, Any] | None = None, **fields: Any) -> ReplicaSpec:
    return ReplicaSpec(
        namespace="test",
        workload="podinfo",
        name="podinfo-abc-x1",
        template_hash="abc",
        argv=("app",),
        ports=PORTS,
        readiness_probe=readiness,
        **fields,
    )


READINESS = {
    "httpGet": {"path": "/readyz", "port": "http"},
    "initialDelaySeconds": 5,
    "periodSeconds": 10,
    "successThreshold": 2,
    "failureThreshold": 3,
}


class Probed:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.checker = FakeChecker()
        self.healthy = True
        self.checker.answer = lambda action, ip: self.healthy
        self.prober = Prober(harness.supervisor, self.checker)

    async def after(self, seconds: float) -> None:
        self.harness.clock.advance(self.harness.clock.scaled(seconds))
        self.harness.supervisor.tick()
        await self.prober.tick()

    @property
    def ready(self) -> bool:
        state = self.harness.supervisor.get("test", "podinfo-abc-x1")
        return state is not None and state.ready


async def test_readiness_waits_for_the_initial_delay_then_success_threshold(
    harness: Harness,
) -> None:
    probed = Probed(harness)
    harness.supervisor.start(replica(READINESS))
    await probed.after(0)
    await probed.after(4)
    assert probed.checker.calls == []
    await probed.after(1)
    assert probed.checker.calls == [(ProbeAction("http", 9898, "/readyz"), "127.128.0.1")]
    assert not probed.ready
    await probed.after(9)
    assert len(probed.checker.calls) == 1
    await probed.after(1)
    assert len(probed.checker.calls) == 2
    assert probed.ready


async def test_readiness_is_lost_only_after_failure_threshold_failures(harness: Harness) -> None:
    probed = Probed(harness)
    harness.supervisor.start(replica(READINESS))
    await probed.after(5)
    await probed.after(10)
    assert probed.ready
    probed.healthy = False
    await probed.after(10)
    await probed.after(10)
    assert probed.ready
    await probed.after(10)
    assert not probed.ready
    probed.healthy = True
    await probed.after(10)
    assert not probed.ready
    await probed.after(10)
    assert probed.ready


async def test_failing_liveness_restarts_the_replica_and_probes_start_over(
    harness: Harness,
) -> None:
    probed = Probed(harness)
    liveness = {"tcpSocket": {"port": 9898}, "periodSeconds": 2, "failureThreshold": 3}
    harness.supervisor.start(replica(None, liveness_probe=liveness))
    probed.healthy = False
    for _ in range(3):
        await probed.after(2)
    harness.supervisor.tick()
    assert len(harness.spawner.processes) == 1
    state = harness.supervisor.get("test", "podinfo-abc-x1")
    assert state is not None
    assert state.phase == "CrashLoopBackOff"
    assert state.message.startswith("Liveness probe failed: HTTP probe failed")
    probed.healthy = True
    await probed.after(10)
    assert len(harness.spawner.processes) == 2
    assert len(probed.checker.calls) == 4  # the new process is probed from its own start
    probed.healthy = False
    await probed.after(2)
    await probed.after(2)
    harness.supervisor.tick()
    assert len(harness.spawner.processes) == 2  # the count of failures started over too


async def test_probe_periods_follow_the_time_scale_down_to_a_floor(state: StateDir) -> None:
    harness = Harness(state, time_scale=10)
    probed = Probed(harness)
    harness.supervisor.start(replica(READINESS))
    # initialDelaySeconds 5 at 10x would be 0.5 s; a process needs real time to start, so 2 s
    harness.clock.advance(1.99)
    await probed.prober.tick()
    assert probed.checker.calls == []
    harness.clock.advance(0.01)
    await probed.prober.tick()
    assert len(probed.checker.calls) == 1
    # periodSeconds 10 at 10x: 1 s, which is also the floor
    harness.clock.advance(0.99)
    await probed.prober.tick()
    assert len(probed.checker.calls) == 1
    harness.clock.advance(0.01)
    await probed.prober.tick()
    assert len(probed.checker.calls) == 2


async def test_a_probe_answer_for_a_process_that_was_replaced_is_ignored(
    harness: Harness,
) -> None:
    probed = Probed(harness)
    harness.supervisor.start(replica({"tcpSocket": {"port": 9898}}))
    tasks = probed.prober.start_due()
    harness.spawner.processes[0].crash()
    harness.supervisor.tick()
    harness.clock.advance(10)
    harness.supervisor.tick()  # restarted: a new incarnation
    for task in tasks:
        await task
    assert not probed.ready
