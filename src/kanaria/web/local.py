"""The dashboard (and kanaria's `/metrics`) on the local platform, as a control-plane controller.

The control plane cannot import `web/` (it sits below it), so `kanaria local up` names this
controller on the control plane's command line (`--controller kanaria.web.local:dashboard`).
It serves the dashboard with the platform's API token guarding the actions, `/metrics` with
Flagger's metric names, and writes its URL to `<state dir>/dashboard.url` for the CLI.
"""

from __future__ import annotations

import os

from kanaria.platforms.local.binaries import free_port
from kanaria.platforms.local.controlplane import Components, Controller
from kanaria.platforms.local.state import ensure_token, write_atomically
from kanaria.web.serve import dashboard_server, serve

PORT_VARIABLE = "KANARIA_DASHBOARD_PORT"
URL_FILE = "dashboard.url"


async def run_dashboard(components: Components) -> None:
    port = int(os.environ.get(PORT_VARIABLE) or 0) or free_port()
    app = dashboard_server(
        components.objects,
        token=ensure_token(components.state),
        metrics=components.metrics,
        clock=components.clock,
    )
    url_file = components.state.root / URL_FILE

    def started(url: str) -> None:
        write_atomically(url_file, url + "\n")

    try:
        await serve(app, "127.0.0.1", port, started)
    finally:
        url_file.unlink(missing_ok=True)


dashboard = Controller("dashboard", run_dashboard)
