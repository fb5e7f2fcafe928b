"""`/healthz` and `/metrics` on one port (Flagger serves both on `-port`, 8080).

The kubelet's liveness probe asks `/healthz`; it answers 200 while the operator's event loop
runs, and says whether this replica leads or waits (a waiting follower is healthy too). Prometheus
scrapes `/metrics`: Flagger's metric names from the engine's recorder, plus the API requests the
operator made, so its load on the API server is visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from kanaria.engine.metrics import exposition


class HealthServer:
    """A small aiohttp server; `port=0` picks a free one (see `port` once started)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        state: Callable[[], dict[str, object]],
        host: str = "0.0.0.0",  # the kubelet and Prometheus reach the pod's IP
        port: int = 8080,
    ) -> None:
        self.registry = registry
        self.state = state
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server  # aiohttp keeps the bound sockets here
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps({"status": "ok", **self.state()}) + "\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = exposition(self.registry)
        response = web.Response(body=body)
        response.content_type = content_type.split(";")[0]
        response.charset = "utf-8"
        return response
