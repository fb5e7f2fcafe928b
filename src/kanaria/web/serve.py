"""Serving the dashboard (and kanaria's `/metrics`) on a port of its own, for either platform."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from kanaria.clock import Clock
from kanaria.engine.metrics import exposition
from kanaria.spec.objects import ObjectClient
from kanaria.web.actions import annotation_act
from kanaria.web.dashboard import dashboard_app

Started = Callable[[str], None]


def dashboard_server(
    objects: ObjectClient,
    *,
    token: str | None,
    metrics: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> web.Application:
    """`/dashboard/` (actions guarded by `token`; none without one) and, if given, `/metrics`."""
    app = web.Application()
    if metrics is not None:
        app.router.add_get("/metrics", _metrics_handler(metrics))
    act = annotation_act(objects) if token else None
    app.add_subapp("/dashboard/", dashboard_app(objects, token=token, act=act, clock=clock))
    app.router.add_get("/", _redirect)
    return app


async def serve(app: web.Application, host: str, port: int, started: Started | None = None) -> None:
    """Serve `app` until cancelled; `started(url)` is called once it listens."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if started is not None:
            started(f"http://{host}:{port}/dashboard/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _metrics_handler(
    registry: CollectorRegistry,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition(registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard/")
