"""The process supervisor: environment, registry, back-off, graceful stop and adoption."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from kanaria.platforms.local.network import PodAddresses, ReplicaPort, ReplicaTable
from kanaria.platforms.local.processes import (
    ReplicaSpec,
    ReplicaState,
    Usage,
    expand,
    passed_environment,
    session_usage,
)
from kanaria.platforms.local.state import StateDir, recorded_processes
from tests.unit.local_runtime.fakes import Harness


def spec(name: str = "podinfo-abc-x1", **fields: object) -> ReplicaSpec:
    values: dict[str, object] = {
        "namespace": "test",
        "workload": "podinfo",
        "name": name,
        "template_hash": "abc",
        "argv": ("python", "-m", "app", "--host=$(POD_IP)", "--name=$(POD_NAME)", "$$(KEPT)"),
        "env": (("GREETING", "hello $(POD_NAMESPACE)"),),
        "ports": (ReplicaPort("http", 9898),),
        "labels": {"app": "podinfo", "pod-template-hash": "abc"},
        "grace_seconds": 30.0,
    }
    values.update(fields)
    return ReplicaSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(POD_IP):9898", "127.128.0.1:9898"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("$$(POD_IP)", "$(POD_IP)"),
        ("cost $$5", "cost $5"),
        ("$POD_IP", "$POD_IP"),
    ],
)
def test_dollar_references_expand_as_the_kubelet_expands_them(text: str, expanded: str) -> None:
    assert expand(text, {"POD_IP": "127.128.0.1"}) == expanded


def test_replicas_inherit_only_harmless_variables_of_the_control_plane() -> None:
    environ = {
        "PATH": "/bin",
        "AWS_SECRET_ACCESS_KEY": "x",
        "KANARIA_LOCAL_PLATFORM": "3f2a",
        # The state dir holds the API token: a load tester's commands must not find it here.
        "KANARIA_STATE_DIR": "/home/me/.local/state/kanaria",
    }
    assert passed_environment(environ) == {"PATH": "/bin", "KANARIA_LOCAL_PLATFORM": "3f2a"}


def test_a_replica_runs_on_its_own_pod_ip_with_the_pods_variables(harness: Harness) -> None:
    state = harness.supervisor.start(spec())
    process = harness.spawner.processes[0]
    assert state.ip == "127.128.0.1"
    assert process.argv == [
        "python", "-m", "app", "--host=127.128.0.1", "--name=podinfo-abc-x1", "$(KEPT)",
    ]  # fmt: skip
    assert process.env == {
        "PATH": "/usr/bin",
        "POD_IP": "127.128.0.1",
        "POD_NAME": "podinfo-abc-x1",
        "POD_NAMESPACE": "test",
        "HOSTNAME": "podinfo-abc-x1",
        "KANARIA_TIME_SCALE": "1",
        "GREETING": "hello test",
    }
    assert process.log_path == harness.state.replica_log("test", "podinfo-abc-x1")


def test_the_registry_shows_each_replica_and_announces_every_change(harness: Harness) -> None:
    harness.supervisor.start(spec(readiness_probe={"tcpSocket": {"port": 9898}}))
    [published] = harness.table.replicas()
    assert (published.namespace, published.workload, published.name) == (
        "test",
        "podinfo",
        "podinfo-abc-x1",
    )
    assert published.ports == (ReplicaPort("http", 9898),)
    assert published.labels["pod-template-hash"] == "abc"
    assert not published.ready
    assert isinstance(published, ReplicaState)
    assert published.phase == "Running"
    assert published.started_at == harness.clock.now()
    before = harness.changes
    harness.supervisor.set_ready("test", "podinfo-abc-x1", True)
    assert harness.changes == before + 1
    assert harness.table.replicas()[0].ready
    harness.supervisor.set_ready("test", "podinfo-abc-x1", True)
    assert harness.changes == before + 1  # nothing new, nothing announced


def test_without_a_readiness_probe_a_started_replica_is_ready(harness: Harness) -> None:
    assert harness.supervisor.start(spec()).ready


def test_crashes_restart_with_the_kubelets_back_off(harness: Harness) -> None:
    harness.supervisor.start(spec())
    delays = []
    for _ in range(7):
        harness.spawner.running()[-1].crash()
        harness.supervisor.tick()
        crashed = harness.supervisor.get("test", "podinfo-abc-x1")
        assert crashed is not None
        assert crashed.phase == "CrashLoopBackOff"
        assert not crashed.ready
        waited = 0
        while harness.supervisor.get("test", "podinfo-abc-x1").phase != "Running":  # type: ignore[union-attr]
            harness.after(1)
            waited += 1
        delays.append(waited)
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    restarted = harness.supervisor.get("test", "podinfo-abc-x1")
    assert restarted is not None
    assert restarted.restarts == 7
    assert restarted.ip == "127.128.0.1"
    assert harness.state.replica_log("test", "podinfo-abc-x1").with_suffix(".previous.log").exists()


def test_back_off_resets_after_ten_minutes_of_running(harness: Harness) -> None:
    harness.supervisor.start(spec())
    for _ in range(3):
        harness.spawner.running()[-1].crash()
        harness.supervisor.tick()
        harness.after(300)
    harness.after(600)
    harness.spawner.running()[-1].crash()
    harness.supervisor.tick()
    harness.after(9)
    assert harness.supervisor.get("test", "podinfo-abc-x1").phase == "CrashLoopBackOff"  # type: ignore[union-attr]
    harness.after(1)
    assert harness.supervisor.get("test", "podinfo-abc-x1").phase == "Running"  # type: ignore[union-attr]


def test_back_off_follows_the_time_scale(state: StateDir) -> None:
    harness = Harness(state, time_scale=20)
    harness.supervisor.start(spec())
    harness.spawner.running()[-1].crash()
    harness.supervisor.tick()
    harness.clock.advance(0.49)
    harness.supervisor.tick()
    assert len(harness.spawner.processes) == 1
    harness.clock.advance(0.01)
    harness.supervisor.tick()
    assert len(harness.spawner.processes) == 2
    assert harness.spawner.processes[1].env["KANARIA_TIME_SCALE"] == "20"


def test_a_program_that_cannot_start_waits_in_back_off_with_the_reason_logged(
    harness: Harness,
) -> None:
    harness.spawner.missing.add("python")
    state = harness.supervisor.start(spec())
    assert state.phase == "CrashLoopBackOff"
    assert "No such file" in state.message
    log = harness.state.replica_log("test", "podinfo-abc-x1").read_text()
    assert "cannot run 'python'" in log


def test_stop_sends_sigterm_then_sigkill_after_the_grace_period(harness: Harness) -> None:
    harness.spawner.ignores_sigterm = True
    harness.supervisor.start(spec(grace_seconds=30.0))
    process = harness.spawner.processes[0]
    harness.supervisor.stop("test", "podinfo-abc-x1")
    assert process.signals == [signal.SIGTERM]
    stopping = harness.table.replicas()[0]
    assert isinstance(stopping, ReplicaState)
    assert (stopping.phase, stopping.ready) == ("Terminating", False)
    harness.after(29)
    assert process.signals == [signal.SIGTERM]
    harness.after(1)
    assert process.signals == [signal.SIGTERM, signal.SIGKILL]
    harness.supervisor.tick()
    assert harness.table.replicas() == []
    assert harness.supervisor.replicas() == []
    assert recorded_processes(harness.state) == []
    assert harness.addresses.owned() == {}


def test_a_replica_that_stops_on_sigterm_is_gone_at_the_next_round(harness: Harness) -> None:
    harness.supervisor.start(spec())
    harness.supervisor.stop("test", "podinfo-abc-x1")
    harness.supervisor.tick()
    assert harness.supervisor.replicas() == []
    assert harness.spawner.processes[0].signals == [signal.SIGTERM]


def test_restart_kills_and_starts_again_counting_a_restart(harness: Harness) -> None:
    harness.supervisor.start(spec())
    harness.supervisor.restart("test", "podinfo-abc-x1", "Liveness probe failed: timeout")
    harness.supervisor.tick()
    waiting = harness.supervisor.get("test", "podinfo-abc-x1")
    assert waiting is not None
    assert waiting.phase == "CrashLoopBackOff"
    assert waiting.message.startswith("Liveness probe failed: timeout")
    harness.after(10)
    assert harness.supervisor.get("test", "podinfo-abc-x1").restarts == 1  # type: ignore[union-attr]


def test_a_new_supervisor_adopts_running_replicas_instead_of_starting_them_again(
    harness: Harness,
) -> None:
    harness.supervisor.start(spec("podinfo-abc-aaaaa"))
    harness.supervisor.start(spec("podinfo-abc-bbbbb"))
    harness.supervisor.set_ready("test", "podinfo-abc-aaaaa", True)
    record = json.loads((harness.state.pids / "replica.test.podinfo-abc-aaaaa.json").read_text())
    assert record["pid"] == harness.spawner.processes[0].pid
    assert record["replica"]["ip"] == "127.128.0.1"
    harness.spawner.processes[1].crash()  # dies while no supervisor watches
    harness.addresses = PodAddresses()  # a new control plane process
    harness.table = ReplicaTable()
    successor = harness.new_supervisor()
    adopted = {state.name: state for state in successor.adopt()}
    assert len(harness.spawner.processes) == 2
    first = adopted["podinfo-abc-aaaaa"]
    assert (first.ip, first.pid, first.ready, first.phase) == (
        "127.128.0.1",
        harness.spawner.processes[0].pid,
        True,
        "Running",
    )
    assert adopted["podinfo-abc-bbbbb"].phase == "CrashLoopBackOff"
    successor.tick()
    assert len(harness.spawner.processes) == 3
    assert harness.spawner.processes[2].env["POD_IP"] == "127.128.0.2"
    assert {r.name for r in harness.table.replicas()} == set(adopted)
    assert harness.addresses.take("test/podinfo-abc-aaaaa") == "127.128.0.1"


def test_an_adopted_replica_still_stopping_is_stopped(harness: Harness) -> None:
    harness.spawner.ignores_sigterm = True
    harness.supervisor.start(spec())
    harness.supervisor.stop("test", "podinfo-abc-x1")
    successor = harness.new_supervisor()
    [adopted] = successor.adopt()
    assert adopted.phase == "Terminating"
    harness.clock.advance(30)
    successor.tick()
    successor.tick()
    assert successor.replicas() == []
    assert harness.spawner.processes[0].signals[-1] == signal.SIGKILL


def test_usage_adds_up_a_replicas_whole_session_from_proc(tmp_path: Path) -> None:
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")

    def stat(pid: int, session: int, cpu: tuple[int, int, int, int], rss: int) -> None:
        fields = ["S", "1", str(session), str(session), *["0"] * 7, *map(str, cpu)]
        fields += ["0"] * 6 + [str(rss)]
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python (app)) {' '.join(fields)}\n")

    stat(100, 100, (ticks, ticks, ticks, 0), 10)  # the replica, children already reaped
    stat(101, 100, (ticks, 0, 0, 0), 5)  # a child it still runs
    stat(200, 200, (5 * ticks, 0, 0, 0), 1)  # another replica
    (tmp_path / "self").mkdir()
    usage = session_usage(tmp_path)
    assert usage[100] == Usage(4.0, 15 * page)
    assert usage[200] == Usage(5.0, page)


def test_a_pod_ip_whose_ports_another_program_holds_is_skipped(harness: Harness) -> None:
    harness.spawner.busy |= {("127.128.0.1", 9898), ("127.128.0.2", 9898)}
    state = harness.supervisor.start(spec())
    assert state.ip == "127.128.0.3"
    assert harness.spawner.processes[0].env["POD_IP"] == "127.128.0.3"
    assert harness.addresses.owned() == {"127.128.0.3": "test/podinfo-abc-x1"}
    harness.spawner.busy.add(("127.128.0.3", 9898))  # taken while the replica was down
    harness.spawner.processes[0].crash()
    harness.supervisor.tick()
    harness.after(10)
    restarted = harness.supervisor.get("test", "podinfo-abc-x1")
    assert restarted is not None
    assert restarted.ip == "127.128.0.4"  # .1 and .2 are still busy, .3 too now
    assert harness.spawner.processes[1].env["POD_IP"] == "127.128.0.4"
    assert harness.table.replicas()[0].ip == "127.128.0.4"
