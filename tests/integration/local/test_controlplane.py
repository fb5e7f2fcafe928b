"""The control plane's wiring of the data plane, with a real Envoy and Prometheus: a Service
gets a VIP, ready replicas become its endpoints, names resolve, the gateway routes by a
VirtualService, a broken VirtualService is refused at apply, and Prometheus learns the
replicas' metrics ports. The workload runtime is stood in for by replica records that point
at small HTTP servers on their pod IPs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from kanaria.errors import ConfigError
from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.client import ApiClient
from kanaria.platforms.local.controlplane import Components, Controller, ControlPlane
from kanaria.platforms.local.network import Replica, ReplicaPort
from kanaria.platforms.local.state import ControlPlaneConfig, StateDir
from kanaria.spec.objects import GATEWAY, NAMESPACE, SERVICE, VIRTUAL_SERVICE
from tests.integration.local.conftest import leftovers

pytestmark = pytest.mark.integration


class Backend:
    """An HTTP server on a replica's pod IP that answers with the replica's name."""

    def __init__(self, name: str, ip: str, port: int) -> None:
        self.name, self.ip, self.port = name, ip, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def answer(request: web.Request) -> web.Response:
            return web.Response(text=self.name)

        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.ip, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    ticks: list[str] = []

    async def extra(components: Components) -> None:
        ticks.append("started")
        await asyncio.Event().wait()

    state = StateDir.at(tmp_path / "state")
    config = ControlPlaneConfig(time_scale=1.0, gateway_port=free_port())
    control_plane = ControlPlane(state, config, [Controller("extra", extra)])
    try:
        await control_plane.start()
        yield control_plane
    finally:
        await control_plane.stop()
        assert leftovers(state) == []
    assert ticks == ["started"]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> float:
    """Seconds until `check` holds; fails the test after `within`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {within} s")


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status, await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return 0, ""


def web_service(port: int = 80) -> dict[str, object]:
    ports = [{"name": "http", "port": port, "targetPort": "http"}]
    return SERVICE.new("test", "web", spec={"selector": {"app": "web"}, "ports": ports})


def replica(components: Components, name: str, ready: bool = True) -> Replica:
    ip = components.network.pods.take(f"test/{name}")
    return Replica(
        "test",
        name,
        "web",
        ip,
        ports=(ReplicaPort("http", 8080), ReplicaPort("http-metrics", 9797)),
        labels={"app": "web"},
        annotations={"prometheus.io/scrape": "true"},
        ready=ready,
    )


async def test_services_route_to_ready_replicas_by_name(plane: ControlPlane) -> None:
    components = plane.components
    assert components is not None
    objects = components.objects
    await objects.create(NAMESPACE.new("", "test"))
    service = await objects.create(web_service())
    vip = service["spec"]["clusterIP"]
    record = replica(components, "web-1")
    backend = Backend("web-1", record.ip, 8080)
    await backend.start()
    connector = aiohttp.TCPConnector(resolver=components.network.resolver("test"))
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            put_at = time.monotonic()
            components.replicas.put(record)
            for url in (f"http://{vip}/", "http://web/", "http://web.test.svc.cluster.local/"):
                await eventually(lambda url=url: _answers(session, url, "web-1"))
            print(f"replica ready → served through Envoy: {time.monotonic() - put_at:.3f} s")

            components.replicas.put(Replica(**{**record.__dict__, "ready": False}))
            await eventually(lambda: _status_is(session, f"http://{vip}/", 503))
    finally:
        await backend.stop()

    async def nothing_scraped() -> bool:  # unready replicas are not scraped
        return json.loads((components.state.prometheus / "app-targets.json").read_text()) == []

    await eventually(nothing_scraped)
    components.replicas.put(record)
    await eventually(lambda: _scraped(components, f"{record.ip}:9797"))


async def _answers(session: aiohttp.ClientSession, url: str, body: str) -> bool:
    return await fetch(session, url) == (200, body)


async def _status_is(session: aiohttp.ClientSession, url: str, status: int) -> bool:
    return (await fetch(session, url))[0] == status


async def _scraped(components: Components, address: str) -> bool:
    text = (components.state.prometheus / "app-targets.json").read_text()
    return any(address in group["targets"] for group in json.loads(text))


async def test_the_gateway_routes_by_virtual_service_and_bad_ones_are_refused(
    plane: ControlPlane,
) -> None:
    components = plane.components
    assert components is not None
    gateway = GATEWAY.new(
        "test",
        "public-gateway",
        spec={
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
            ]
        },
    )
    route = VIRTUAL_SERVICE.new(
        "test",
        "web",
        spec={
            "hosts": ["*"],
            "gateways": ["public-gateway"],
            "http": [{"route": [{"destination": {"host": "web", "port": {"number": 80}}}]}],
        },
    )
    record = replica(components, "web-2")
    backend = Backend("web-2", record.ip, 8080)
    await backend.start()
    try:
        async with ApiClient.for_state(components.state) as client:
            await client.apply([NAMESPACE.new("", "test"), web_service(), gateway, route])
            components.replicas.put(record)
            async with aiohttp.ClientSession() as session:
                await eventually(lambda: _answers(session, components.gateway_url + "/", "web-2"))
            broken = VIRTUAL_SERVICE.new(
                "test",
                "broken",
                spec={
                    "hosts": ["web"],
                    "http": [{"route": [{"destination": {"host": "web"}, "weight": -5}]}],
                },
            )
            with pytest.raises(ConfigError, match="broken"):
                await client.apply([broken])
            assert await client.get(VIRTUAL_SERVICE, "test", "broken") is None
            status = await client.status()
            assert status["healthy"], status
            assert {c["name"] for c in status["components"]} >= {
                "controller/extra",
                "controller/mesh",
            }
    finally:
        await backend.stop()


async def test_hosts_files_follow_the_services(plane: ControlPlane) -> None:
    components = plane.components
    assert components is not None
    await components.objects.create(NAMESPACE.new("", "test"))
    service = await components.objects.create(web_service())
    hosts = components.network.hosts_file("test")
    line = f"{service['spec']['clusterIP']}\tweb.test.svc.cluster.local web.test.svc web.test web"

    async def listed() -> bool:
        return line in hosts.read_text()

    await eventually(listed)
