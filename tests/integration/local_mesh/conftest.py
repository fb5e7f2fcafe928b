"""One real Envoy, one real Prometheus and two backends, shared by the data-plane tests.

Everything binds to loopback addresses drawn at random from 127.0.0.0/8 (pods on
127.N.1.x, service VIPs on 127.N.2.x), so these tests do not collide with other suites that run
on the same machine. Every process is stopped when the module ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from kanaria.platforms.local.binaries import free_port, hey_path
from kanaria.platforms.local.envoy import ApplyResult, EnvoyProcess
from kanaria.platforms.local.mesh import (
    Endpoint,
    MeshSnapshot,
    Service,
    ServicePort,
    translate,
)
from kanaria.platforms.local.prometheus import PrometheusProcess
from tests.support.backends import Backend, Knobs
from tests.support.istio import podinfo_virtual_service

PORT = 9898

GATEWAY: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1alpha3",
    "kind": "Gateway",
    "metadata": {"name": "public-gateway", "namespace": "istio-system"},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    },
}


@dataclass
class Mesh:
    envoy: EnvoyProcess
    prometheus: PrometheusProcess
    primary: Backend
    canary: Backend
    gateway_port: int
    network: int  # the N of 127.N.x.y

    def vip(self, service: str) -> str:
        index = ("podinfo", "podinfo-primary", "podinfo-canary").index(service)
        return f"127.{self.network}.2.{index + 1}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}/"

    def service_url(self, service: str) -> str:
        return f"http://{self.vip(service)}:{PORT}/"

    def snapshot(self, *virtual_services: dict[str, Any]) -> MeshSnapshot:
        primary = Endpoint("podinfo-primary", self.primary.host, PORT)
        canary = Endpoint("podinfo", self.canary.host, PORT)
        services = tuple(
            Service("test", name, self.vip(name), (ServicePort(PORT, PORT, "http"),), (endpoint,))
            for name, endpoint in (
                ("podinfo", primary),
                ("podinfo-primary", primary),
                ("podinfo-canary", canary),
            )
        )
        return MeshSnapshot(
            services=services,
            virtual_services=virtual_services,
            gateways=(GATEWAY,),
            gateway_ports={80: self.gateway_port},
        )

    async def route(self, primary: int, canary: int, **kwargs: Any) -> ApplyResult:
        vs = podinfo_virtual_service(primary, canary, **kwargs)
        return await self.envoy.apply(translate(self.snapshot(vs)))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    state = tmp_path_factory.mktemp("local-mesh")
    network = random.Random().randint(100, 250)
    primary = Backend("v1", f"127.{network}.1.1", PORT, Knobs())
    canary = Backend("v2", f"127.{network}.1.2", PORT, Knobs())
    envoy: EnvoyProcess | None = None
    prometheus: PrometheusProcess | None = None
    try:
        primary.start()
        canary.start()
        envoy = await EnvoyProcess.start(state / "envoy")
        prometheus = await PrometheusProcess.start(
            state / "prometheus", envoy_admin=envoy.admin_address
        )
        await prometheus.wait_for_target(envoy.admin_address)
        yield Mesh(envoy, prometheus, primary, canary, free_port(), network)
    finally:
        if prometheus is not None:
            await prometheus.stop()
        if envoy is not None:
            await envoy.stop()
        primary.stop()
        canary.stop()


@pytest.fixture(autouse=True)
def calm_backends(request: pytest.FixtureRequest) -> None:
    """Each test starts with well-behaved backends, whatever the previous one set."""
    if "mesh" in request.fixturenames:
        mesh: Mesh = request.getfixturevalue("mesh")
        mesh.primary.knobs = Knobs()
        mesh.canary.knobs = Knobs()


async def hey(url: str, *args: str) -> dict[int, int]:
    """Run hey against `url`; responses counted by status code."""
    process = await asyncio.create_subprocess_exec(
        str(hey_path()),
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return {
        int(code): int(count)
        for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", out.decode())
    }
