"""The local platform through its CLI, as a user drives it: up, apply, get, describe, set
image, delete, logs, status, down, and what happens after a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.client import ApiClient
from kanaria.platforms.local.controlplane import sweep
from kanaria.platforms.local.state import (
    StateDir,
    is_locked,
    lock_owner,
    read_api_url,
    recorded_processes,
)
from kanaria.spec.objects import DEPLOYMENT, EVENT, NAMESPACE
from tests.integration.local.conftest import (
    SEED,
    Platform,
    kanaria,
    leftovers,
    start_platform,
    stop_platform,
)

pytestmark = pytest.mark.integration


def test_local_up_refuses_a_second_control_plane(shared_platform: Platform) -> None:
    again = shared_platform.run("local", "up")
    assert again.code == 1
    assert "already runs on" in again.err


def test_status_shows_every_component_healthy(shared_platform: Platform) -> None:
    status = shared_platform.run("local", "status")
    assert status.code == 0, status.out + status.err
    lines = status.out.splitlines()
    assert lines[0].split() == ["COMPONENT", "HEALTHY", "DETAIL"]
    healthy = {line.split()[0]: line.split()[1] for line in lines[1:]}
    for component in ("control-plane", "store", "envoy", "prometheus", "controller/mesh"):
        assert healthy[component] == "yes", status.out
    assert f"http://127.0.0.1:{shared_platform.gateway_port}" in status.out


async def test_the_api_wants_the_token(shared_platform: Platform) -> None:
    url = read_api_url(shared_platform.state)
    assert url is not None
    assert (shared_platform.state.token.stat().st_mode & 0o777) == 0o600
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with session.get(
                f"{url}/v1/objects?apiVersion=v1&kind=Namespace", headers=headers
            ) as response:
                assert response.status == 401
    async with ApiClient.for_state(shared_platform.state) as client:
        assert await client.healthy()
        config = await client.config()
        assert config["timeScale"] == 10.0
        assert {ns["metadata"]["name"] for ns in await client.list(NAMESPACE, None)} >= {"default"}


def test_the_seed_applies_and_reads_back_like_kubectl(shared_platform: Platform) -> None:
    applied = shared_platform.run("apply", "-f", str(SEED))
    assert applied.code == 0, applied.err
    assert applied.out.splitlines() == [
        "namespace/test created",
        "namespace/istio-system created",
        "horizontalpodautoscaler.autoscaling/podinfo created",
        "deployment.apps/flagger-loadtester created",
        "service/flagger-loadtester created",
        "canary.flagger.app/podinfo created",
        "deployment.apps/podinfo created",
        "gateway.networking.istio.io/public-gateway created",
    ]
    again = shared_platform.run("apply", "-f", str(SEED))
    assert {line.rsplit(" ", 1)[1] for line in again.out.splitlines()} == {"unchanged"}

    deployments = shared_platform.run("get", "deployments", "-n", "test")
    assert deployments.out.splitlines()[0].split() == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
    ]
    assert {line.split()[0] for line in deployments.out.splitlines()[1:]} >= {
        "podinfo",
        "flagger-loadtester",
    }

    services = shared_platform.run("get", "svc", "flagger-loadtester", "-n", "test")
    header, row = services.out.splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, kind, vip, external, ports, _ = row.split()
    assert (name, kind, external, ports) == ("flagger-loadtester", "ClusterIP", "<none>", "80/TCP")
    assert vip.startswith("127.96.")

    canaries = shared_platform.run("get", "canary", "-n", "test", "-o", "wide")
    assert canaries.out.splitlines()[0].split()[:5] == [
        *("NAME", "STATUS", "WEIGHT", "SUSPENDED", "FAILEDCHECKS")
    ]

    as_yaml = yaml.safe_load(
        shared_platform.run("get", "deploy/podinfo", "-n", "test", "-o", "yaml").out
    )
    assert (
        as_yaml["spec"]["template"]["spec"]["containers"][0]["image"]
        == "stefanprodan/podinfo:3.1.0"
    )
    as_json = json.loads(shared_platform.run("get", "ns", "-o", "json").out)
    assert as_json["kind"] == "List"

    hosts = (shared_platform.state.hosts / "test").read_text()
    assert f"{vip}\tflagger-loadtester.test.svc.cluster.local" in hosts
    assert hosts.rstrip().endswith("flagger-loadtester.test flagger-loadtester")


def test_describe_prints_fields_and_folded_events(
    shared_platform: Platform, tmp_path: Path
) -> None:
    # The canary engine runs on the platform: give it a Canary it cannot act on (no target,
    # no analysis, so no provider check), so that the only Events are the ones made here.
    canary = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text())
    canary["metadata"]["name"] = "folded"  # other tests here release the seed's "podinfo"
    canary["spec"]["targetRef"]["name"] = "no-such-deployment"
    canary["spec"]["skipAnalysis"] = True
    (tmp_path / "canary.yaml").write_text(yaml.safe_dump(canary))
    shared_platform.run("apply", "-f", str(SEED / "namespace.yaml"))
    shared_platform.run("apply", "-f", str(tmp_path / "canary.yaml"))
    now = time.time()

    def stamp(seconds_ago: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - seconds_ago))

    async def record_events() -> None:
        async with ApiClient.for_state(shared_platform.state) as client:
            for index, (message, count, first, last) in enumerate(
                [
                    ("all the metrics providers are available!", 2, 39 * 60, 38 * 60),
                    ("Initialization done! podinfo.test", 1, 38 * 60, 38 * 60),
                ]
            ):
                event = EVENT.new(
                    "test",
                    f"folded.{index}",
                    involvedObject={"kind": "Canary", "name": "folded", "namespace": "test"},
                    reason="Synced",
                    type="Normal",
                    message=message,
                    count=count,
                    firstTimestamp=stamp(first),
                    lastTimestamp=stamp(last),
                    source={"component": "flagger"},
                )
                await client.create(event)

    asyncio.run(record_events())
    described = shared_platform.run("describe", "canary/folded", "-n", "test")
    assert described.code == 0, described.err
    lines = described.out.splitlines()
    assert lines[:2] == ["Name:         folded", "Namespace:    test"]
    assert "Kind:         Canary" in lines
    assert lines[-5:] == [
        "Events:",
        "  Type    Reason  Age                From     Message",
        "  ----    ------  ----               ----     -------",
        "  Normal  Synced  38m (x2 over 39m)  flagger  all the metrics providers are available!",
        "  Normal  Synced  38m                flagger  Initialization done! podinfo.test",
    ]


def test_set_image_bumps_the_generation(shared_platform: Platform) -> None:
    shared_platform.run(
        "apply", "-f", str(SEED / "namespace.yaml"), "-f", str(SEED / "podinfo.yaml")
    )
    before = json.loads(
        shared_platform.run("get", "deploy", "podinfo", "-n", "test", "-o", "json").out
    )
    result = shared_platform.run(
        "set", "image", "deployment/podinfo", "podinfod=stefanprodan/podinfo:3.1.1", "-n", "test"
    )
    assert (result.code, result.out) == (0, "deployment.apps/podinfo image updated\n")
    after = json.loads(
        shared_platform.run("get", "deploy", "podinfo", "-n", "test", "-o", "json").out
    )
    assert (
        after["spec"]["template"]["spec"]["containers"][0]["image"] == "stefanprodan/podinfo:3.1.1"
    )
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    missing = shared_platform.run("set", "image", "deployment/podinfo", "nope=x:1", "-n", "test")
    assert missing.code == 2
    assert 'unable to find container named "nope"' in missing.err


def test_a_bad_manifest_is_refused_whole(shared_platform: Platform, tmp_path: Path) -> None:
    (tmp_path / "a-namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: refused\n"
    )
    broken = (SEED / "podinfo.yaml").read_text().replace("namespace: test", "namespace: refused")
    (tmp_path / "b-podinfo.yaml").write_text(
        broken.replace("minReadySeconds: 5", "minReadySeconds: soon")
    )
    result = shared_platform.run("apply", "-f", str(tmp_path))
    assert result.code == 2
    assert result.out == ""
    assert "b-podinfo.yaml[0] Deployment/podinfo: spec.minReadySeconds: found 'soon'" in result.err
    assert "nothing applied" in result.err
    namespaces = shared_platform.run("get", "ns").out
    assert "refused" not in namespaces


def test_a_missing_namespace_is_refused_like_kubectl(
    shared_platform: Platform, tmp_path: Path
) -> None:
    manifest = tmp_path / "elsewhere.yaml"
    manifest.write_text(
        (SEED / "loadtester.yaml").read_text().replace("namespace: test", "namespace: nowhere")
    )
    result = shared_platform.run("apply", "-f", str(manifest))
    assert result.code == 1
    assert result.err.strip() == 'Error from server (NotFound): namespaces "nowhere" not found'
    assert "nowhere" not in shared_platform.run("get", "deploy", "-A").out


def test_delete_by_name_and_by_file(shared_platform: Platform, tmp_path: Path) -> None:
    shared_platform.run("apply", "-f", str(SEED / "namespace.yaml"))
    manifest = tmp_path / "loadtester.yaml"
    manifest.write_text(
        (SEED / "loadtester.yaml").read_text().replace("flagger-loadtester", "doomed")
    )
    assert shared_platform.run("apply", "-f", str(manifest)).code == 0
    by_name = shared_platform.run("delete", "deployment/doomed", "-n", "test")
    assert by_name.out == 'deployment.apps "doomed" deleted\n'
    by_file = shared_platform.run("delete", "-f", str(manifest), "--ignore-not-found")
    assert by_file.out == 'service "doomed" deleted\n'
    again = shared_platform.run("delete", "service", "doomed", "-n", "test")
    assert again.code == 1
    assert again.err == 'Error from server (NotFound): services "doomed" not found\n'
    gone = shared_platform.run("get", "svc", "doomed", "-n", "test")
    assert gone.code == 1


def test_unknown_kinds_and_missing_platforms_are_clear(tmp_path: Path) -> None:
    nowhere = kanaria("get", "deploy", "--state-dir", str(tmp_path))
    assert nowhere.code == 2
    assert "no local platform runs on" in nowhere.err
    assert "Traceback" not in nowhere.err


def test_sigkill_then_up_again_keeps_objects_and_adopts_envoy(platform: Platform) -> None:
    assert platform.run("apply", "-f", str(SEED)).code == 0
    envoy_before = {r.name: r.pid for r in recorded_processes(platform.state)}["envoy"]
    owner = lock_owner(platform.state)
    assert owner is not None
    os.kill(owner, signal.SIGKILL)
    for _ in range(200):
        if not is_locked(platform.state):
            break
        time.sleep(0.02)
    down = platform.run("local", "status")
    assert down.code == 1
    assert f"left running: envoy (pid {envoy_before})" in down.out

    up = platform.run("local", "up", "--gateway-port", str(platform.gateway_port))
    assert up.code == 0, up.err
    envoy_after = {r.name: r.pid for r in recorded_processes(platform.state)}["envoy"]
    assert envoy_after == envoy_before
    listed = platform.run("get", "canaries", "-n", "test")
    assert listed.out.splitlines()[1].split()[0] == "podinfo"
    assert platform.run("apply", "-f", str(SEED)).out.count("unchanged") == 8


def test_down_after_a_sigkill_stops_everything(tmp_path: Path) -> None:
    platform = start_platform(tmp_path / "state")
    try:
        pids = leftovers(platform.state)
        assert len(pids) >= 2  # Envoy and Prometheus at least
        owner = lock_owner(platform.state)
        assert owner is not None
        os.kill(owner, signal.SIGKILL)
        result = platform.run("local", "down")
        assert result.code == 0, result.err
        assert leftovers(platform.state) == []
        assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids)
    finally:
        stop_platform(platform)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_logs_without_replicas_say_so(shared_platform: Platform) -> None:
    result = shared_platform.run("logs", "deployment/absent", "-n", "test")
    assert result.code == 1
    assert "no replicas of deployment test/absent" in result.err


@pytest.mark.parametrize("argv", [["get", "gizmos"], ["describe", "gizmo/x"]])
def test_unknown_resource_types(shared_platform: Platform, argv: list[str]) -> None:
    result = shared_platform.run(*argv)
    assert result.code == 2
    assert "doesn't have a resource type" in result.err


def test_get_a_missing_object(shared_platform: Platform) -> None:
    result = shared_platform.run("get", "deploy", "ghost", "-n", "test")
    assert result.code == 1
    assert result.err == 'Error from server (NotFound): deployments.apps "ghost" not found\n'


def test_writes_through_the_client_are_versioned(shared_platform: Platform) -> None:
    template = {
        "metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    spec = {"replicas": 0, "selector": {"matchLabels": {"a": "b"}}, "template": template}

    async def write() -> tuple[int, int]:
        async with ApiClient.for_state(shared_platform.state) as client:
            await client.apply([NAMESPACE.new("", "versions")])
            created = await client.create(DEPLOYMENT.new("versions", "versioned", spec=spec))
            status = await client.patch_status(DEPLOYMENT, "versions", "versioned", {"x": 0})
            return int(created["metadata"]["resourceVersion"]), int(
                status["metadata"]["resourceVersion"]
            )

    created, patched = asyncio.run(write())
    assert patched > created


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_foreground_stops_everything_on_a_signal(tmp_path: Path, stop_signal: int) -> None:
    root = tmp_path / "state"
    command = [sys.executable, "-m", "kanaria.cli", "local", "up", "--foreground"]
    command += ["--state-dir", str(root), "--gateway-port", str(free_port())]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = StateDir.at(root)
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("kanaria local platform is up"), first
        assert len(leftovers(state)) >= 2
        child.send_signal(stop_signal)
        assert child.wait(timeout=30) == 0
        assert leftovers(state) == []
        assert not is_locked(state)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        sweep(state)


def test_a_request_too_large_for_the_control_plane_names_the_limit(
    shared_platform: Platform, tmp_path: Path
) -> None:
    # Two files under the file limit whose objects together pass the API's request limit.
    files = []
    for index in range(2):
        path = tmp_path / f"big-{index}.yaml"
        data = {"blob": "x" * (9 * 1024 * 1024)}
        path.write_text(yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"big-{index}", "namespace": "default"}, "data": data}
        ))  # fmt: skip
        files += ["-f", str(path)]
    result = shared_platform.run("apply", *files)
    assert result.code == 2
    assert "too large for the control plane" in result.err
    assert "limit 16777216 bytes" in result.err
    assert "does not answer" not in result.err
