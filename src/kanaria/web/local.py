"""The dashboard (and kanaria's `/metrics`) on the local platform, as a control-plane controller.

The control plane cannot import `web/` (it sits below it), so `kanaria local up` names this
controller on the control plane's command line (`--controller kanaria.web.local:dashboard`).
It serves the dashboard at `/` with the platform's API token guarding the actions, `/metrics`
with Flagger's metric names, and writes its URL to `<state dir>/dashboard.url` for the CLI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from kanaria.engine.metrics import exposition
from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.controlplane import Components, Controller
from kanaria.platforms.local.state import ensure_token, write_atomically
from kanaria.web.actions import annotation_act
from kanaria.web.dashboard import dashboard_app

PORT_VARIABLE = "KANARIA_DASHBOARD_PORT"
URL_FILE = "dashboard.url"


async def run_dashboard(components: Components) -> None:
    port = int(os.environ.get(PORT_VARIABLE) or 0) or free_port()
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(components))
    app.add_subapp(
        "/dashboard/",
        dashboard_app(
            components.objects,
            token=ensure_token(components.state),
            act=annotation_act(components.objects),
            clock=components.clock,
        ),
    )
    app.router.add_get("/", _redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        write_atomically(components.state.root / URL_FILE, f"http://127.0.0.1:{port}/dashboard/\n")
        await asyncio.Event().wait()  # serve until the control plane cancels us
    finally:
        (components.state.root / URL_FILE).unlink(missing_ok=True)
        await runner.cleanup()


def _metrics_handler(
    components: Components,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition(components.metrics)
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard/")


dashboard = Controller("dashboard", run_dashboard)
