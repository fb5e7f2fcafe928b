"""The local mesh end to end: real Envoy, Prometheus and hey on loopback.

What a user of the local platform relies on: the weights a VirtualService sets are the split
Envoy serves, through the gateway and through a Service VIP; Flagger's Istio queries see the
canary's errors and latency; a bad config never replaces a working one; the VirtualService's
retries happen; and Envoy outlives the control plane that started it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kanaria.errors import ConfigError, PermanentError, TemporaryError
from kanaria.platforms.local.binaries import Detached, free_port, http_get, promtool_path
from kanaria.platforms.local.envoy import EnvoyProcess, rds_file
from kanaria.platforms.local.mesh import MeshSnapshot, Service, ServicePort, translate
from kanaria.platforms.local.prometheus import PrometheusProcess
from tests.integration.local_mesh.conftest import PORT, Mesh, hey
from tests.support.istio import GATEWAY_REFERENCE, podinfo_virtual_service

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

PRIMARY_CLUSTER = f"test|podinfo-primary|{PORT}||podinfo-primary"
CANARY_CLUSTER = f"test|podinfo-canary|{PORT}||podinfo"
# At n=2000 one standard deviation of a 10 % share is 0.7 points; 5 points is > 7 sigma.
TOLERANCE = 0.05

# Flagger's Istio checks, verbatim from pkg/metrics/observers/istio.go (namespace test, 10s).
SUCCESS_RATE = (
    'sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"{target}",response_code!~"5.*"}}[10s])) / sum(rate('
    'istio_requests_total{{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"{target}"}}[10s])) * 100'
)
P99 = (
    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{"
    'reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"{target}"}}[10s])) by (le))'
)


async def canary_share(mesh: Mesh, url: str, requests: int = 2000) -> float:
    """The canary's share of `requests` sent by hey, from Envoy's per-cluster counters."""
    before = await mesh.envoy.cluster_counters()
    codes = await hey(url, "-n", str(requests), "-c", "10")
    assert codes == {200: requests}
    after = await mesh.envoy.cluster_counters()
    primary = after[PRIMARY_CLUSTER] - before.get(PRIMARY_CLUSTER, 0)
    canary = after[CANARY_CLUSTER] - before.get(CANARY_CLUSTER, 0)
    assert primary + canary == requests
    return canary / requests


async def test_flagger_istio_queries_report_canary_errors_and_latency(mesh: Mesh) -> None:
    # First in the module, so the 10 s window holds no canary traffic from other tests.
    await mesh.route(50, 50)
    mesh.canary.knobs.error_fraction = 0.1
    mesh.canary.knobs.latency_ms = 600
    mesh.canary.knobs.latency_fraction = 0.2
    await hey(mesh.gateway_url, "-z", "5s", "-c", "10", "-q", "20")
    values: dict[str, float | None] = {}
    for _ in range(50):  # the last samples reach Prometheus after a flush and a scrape
        for name, query in (
            ("canary success", SUCCESS_RATE.format(target="podinfo")),
            ("primary success", SUCCESS_RATE.format(target="podinfo-primary")),
            ("canary p99", P99.format(target="podinfo")),
            ("primary p99", P99.format(target="podinfo-primary")),
        ):
            values[name] = await mesh.prometheus.query_value(query)
        if None not in values.values() and (values["canary p99"] or 0) > 500:
            break
        await asyncio.sleep(0.2)
    print(f"Flagger queries: {values}")
    assert values["primary success"] == 100.0
    assert values["canary success"] is not None
    assert 80.0 < values["canary success"] < 95.0  # 10 % of canary requests fail
    assert values["canary p99"] is not None
    assert values["canary p99"] > 500
    assert values["primary p99"] is not None
    assert values["primary p99"] < 100


@pytest.mark.parametrize(("primary", "canary"), [(90, 10), (50, 50), (0, 100)])
async def test_gateway_serves_the_virtual_service_weights(
    mesh: Mesh, primary: int, canary: int
) -> None:
    await mesh.route(primary, canary)
    requests_before = mesh.canary.requests
    share = await canary_share(mesh, mesh.gateway_url)
    print(f"gateway {primary}/{canary}: canary share {share:.3f}")
    assert share == pytest.approx(canary / 100, abs=TOLERANCE)
    if canary == 100:
        assert mesh.canary.requests - requests_before == 2000


async def test_service_vip_serves_the_weights_for_the_mesh(mesh: Mesh) -> None:
    await mesh.route(50, 50)
    share = await canary_share(mesh, mesh.service_url("podinfo"), 1000)
    print(f"service VIP 50/50: canary share {share:.3f}")
    assert share == pytest.approx(0.5, abs=TOLERANCE)
    # A Service without a VirtualService only reaches its own endpoints.
    assert await canary_share(mesh, mesh.service_url("podinfo-canary"), 200) == 1.0


async def test_weights_read_back_from_envoy(mesh: Mesh) -> None:
    await mesh.route(70, 30)
    served = (await mesh.envoy.route_configs())["gateway|80"]
    clusters = served["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert {c["name"]: c["weight"] for c in clusters} == {PRIMARY_CLUSTER: 70, CANARY_CLUSTER: 30}


class Prober:
    """One keep-alive connection asking the gateway for its version as fast as it can."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latest: tuple[float, str] = (0.0, "")
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Prober:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._task = asyncio.create_task(self._run(reader, writer))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(b"GET / HTTP/1.1\r\nHost: podinfo\r\n\r\n")
                head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
                length = int(head.split("content-length:")[1].split("\r\n")[0])
                body = (await reader.readexactly(length)).decode().strip()
                self.latest = (time.monotonic(), body)
        finally:
            writer.close()

    async def first_version_after(self, started: float, version: str) -> float:
        for _ in range(2000):
            seen_at, seen = self.latest
            if seen == version and seen_at > started:
                return seen_at - started
            await asyncio.sleep(0.0005)
        raise AssertionError(f"{version} was never served")


async def test_new_weights_are_served_within_milliseconds_of_apply(mesh: Mesh) -> None:
    await mesh.route(100, 0)
    served, acknowledged = [], []
    async with Prober(mesh.gateway_port) as prober:
        for flip in range(8):
            version, weights = ("v2", (0, 100)) if flip % 2 == 0 else ("v1", (100, 0))
            started = time.monotonic()
            result = await mesh.route(*weights)
            acknowledged.append(result.seconds)
            served.append(await prober.first_version_after(started, version))
    print(
        f"apply acknowledged: median {statistics.median(acknowledged) * 1000:.1f} ms, "
        f"max {max(acknowledged) * 1000:.1f} ms; new weights served (same keep-alive "
        f"connection): median {statistics.median(served) * 1000:.1f} ms, "
        f"max {max(served) * 1000:.1f} ms"
    )
    assert max(served) < 0.5


async def test_two_clusters_of_one_workload_add_up_in_prometheus(mesh: Mesh) -> None:
    # As in the seed: the VirtualService is bound to the gateway only, so mesh traffic to the
    # apex Service goes to the primary pods through a cluster of its own.
    await mesh.route(100, 0, gateways=(GATEWAY_REFERENCE,))
    assert (await hey(mesh.service_url("podinfo"), "-n", "300", "-c", "5")) == {200: 300}
    assert (await hey(mesh.service_url("podinfo-primary"), "-n", "200", "-c", "5")) == {200: 200}
    responses = await mesh.envoy.cluster_responses()
    apex_cluster = f"test|podinfo|{PORT}||podinfo-primary"
    assert responses[apex_cluster][200] >= 300
    envoy_total = sum(responses[apex_cluster].values()) + sum(responses[PRIMARY_CLUSTER].values())
    query = (
        'sum(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
        'destination_workload="podinfo-primary"})'
    )
    prometheus_total = None
    for _ in range(50):
        prometheus_total = await mesh.prometheus.query_value(query)
        if prometheus_total == envoy_total:
            break
        await asyncio.sleep(0.1)
    assert prometheus_total == envoy_total


async def test_services_come_and_go_without_disturbing_the_others(mesh: Mesh) -> None:
    base = mesh.snapshot(podinfo_virtual_service(50, 50))
    extra_vip = f"127.{mesh.network}.2.9"
    extra = Service(
        "test", "extra", extra_vip, (ServicePort(PORT, PORT),), base.services[2].endpoints
    )
    grown = MeshSnapshot(**{**vars(base), "services": (*base.services, extra)})
    await mesh.envoy.apply(translate(base))
    result = await mesh.envoy.apply(translate(grown))
    assert set(result.changed) == {"cds.json", "lds.json", rds_file(f"mesh|test|extra|{PORT}")}
    assert (await http_get(f"{extra_vip}:{PORT}", "/")) == (200, b"v2\n")
    result = await mesh.envoy.apply(translate(base))
    assert set(result.changed) == {"cds.json", "lds.json"}
    assert not (mesh.envoy.state_dir / rds_file(f"mesh|test|extra|{PORT}")).exists()
    with pytest.raises(TemporaryError):
        await http_get(f"{extra_vip}:{PORT}", "/", time_limit=0.5)
    assert f"test|extra|{PORT}||podinfo" not in await mesh.envoy.clusters()
    assert (await hey(mesh.gateway_url, "-n", "200", "-c", "5")) == {200: 200}


async def test_rejected_config_keeps_the_old_weights_serving(mesh: Mesh) -> None:
    await mesh.route(100, 0)
    route_file = mesh.envoy.state_dir / rds_file("gateway|80")
    working = route_file.read_text()
    # Valid Istio, but not a regex RE2 accepts: only Envoy can tell, and it refuses.
    with pytest.raises(ConfigError, match="Envoy rejected"):
        await mesh.route(0, 100, match=[{"uri": {"regex": "(unclosed"}}])
    assert route_file.read_text() == working
    assert (await canary_share(mesh, mesh.gateway_url, 300)) == 0.0
    result = await mesh.route(0, 100)
    assert rds_file("gateway|80") in result.changed
    assert (await canary_share(mesh, mesh.gateway_url, 300)) == 1.0


async def test_virtual_service_retries_hide_a_failing_first_attempt(mesh: Mesh) -> None:
    mesh.canary.knobs.fail_first_attempt = True
    await mesh.route(0, 100)
    errors_before, retries_before = mesh.canary.errors, await retry_count(mesh)
    assert (await hey(mesh.gateway_url, "-n", "300", "-c", "5")) == {200: 300}
    assert mesh.canary.errors - errors_before == 300
    assert await retry_count(mesh) - retries_before == 300
    await mesh.route(0, 100, retries={"attempts": 0})
    assert (await hey(mesh.gateway_url, "-n", "100", "-c", "5")) == {503: 100}


async def retry_count(mesh: Mesh) -> int:
    return (await mesh.envoy.cluster_counters("upstream_rq_retry")).get(CANARY_CLUSTER, 0)


async def test_prometheus_is_adopted_not_restarted(mesh: Mesh) -> None:
    adopted = await PrometheusProcess.adopt(mesh.prometheus.state_dir)
    assert adopted is not None
    assert adopted.process.pid == mesh.prometheus.process.pid
    with pytest.raises(PermanentError):
        await PrometheusProcess.start(mesh.prometheus.state_dir)
    assert (await adopted.targets_up()) == {mesh.envoy.admin_address: True}
    config = str(adopted.state_dir / "prometheus.yml")
    check = await asyncio.create_subprocess_exec(
        str(promtool_path()), "check", "config", config, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(check.communicate(), 10)
    assert check.returncode == 0, output


def start_controller(state: Path) -> subprocess.Popen[bytes]:
    """A stand-in control plane: a Python process that starts Envoy and then idles."""
    return subprocess.Popen(
        [sys.executable, "-c", STARTER, str(state)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


STARTER = """
import asyncio, json, sys
from pathlib import Path
from kanaria.platforms.local.envoy import EnvoyProcess

async def main():
    envoy = await EnvoyProcess.start(Path(sys.argv[1]))
    print(json.dumps({"pid": envoy.pid, "admin": envoy.admin_address}), flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_envoy_outlives_a_killed_control_plane_and_is_adopted(
    mesh: Mesh, tmp_path: Path
) -> None:
    state = tmp_path / "envoy"
    controller = start_controller(state)
    adopted: EnvoyProcess | None = None
    try:
        assert controller.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(controller.stdout.readline), 15)
        started = json.loads(line)
        controller.send_signal(signal.SIGKILL)
        controller.wait(timeout=5)
        assert (await http_get(started["admin"], "/ready"))[0] == 200
        adopted = await EnvoyProcess.adopt(state)
        assert adopted is not None
        assert (adopted.pid, adopted.admin_address) == (started["pid"], started["admin"])
        with pytest.raises(PermanentError):
            await EnvoyProcess.start(state)
        # The adopted Envoy takes new configuration like a fresh one.
        vip, port = f"127.{mesh.network}.3.1", free_port()
        service = Service("test", "solo", vip, (ServicePort(port, PORT),), ())
        await adopted.apply(translate(MeshSnapshot(services=(service,))))
        assert (await http_get(f"{vip}:{port}", "/"))[0] == 503  # no endpoints, as in Istio
    finally:
        controller.kill()
        controller.wait(timeout=5)
        leftover = adopted or await EnvoyProcess.adopt(state)
        if leftover is not None:
            await leftover.stop()
    assert not Detached(started["pid"], str(state / "bootstrap.json"), state / "x").running()
