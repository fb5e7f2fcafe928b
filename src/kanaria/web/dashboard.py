"""The web dashboard: an aiohttp application that either platform mounts beside its own API.

Pages (plain HTML, CSS and JavaScript shipped in `static/`, hand-drawn SVG charts, nothing
fetched from elsewhere, so it works offline and under a strict Content-Security-Policy):

    GET  /                                      the canaries, with phase and weight
    GET  /canary/{namespace}/{name}             one canary: weight and checks over time, events
    GET  /api/canaries                          JSON of the list
    GET  /api/canaries/{namespace}/{name}       JSON of one canary, with its history
    POST /api/canaries/{namespace}/{name}/{action}   promote, abort, retry, pause, resume

Reading is open, as a status page is; acting needs the API token as `Authorization: Bearer`
(the page asks for it once and keeps it in the tab's sessionStorage). Without a token
configured, or without an `act`, actions are switched off (403), never open to anyone. The
page polls the JSON once a second; history comes from `history.History`, fed by a sampler that
runs with the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from kanaria.clock import Clock, SystemClock
from kanaria.errors import ConfigError, KanariaError, NotFoundError
from kanaria.spec.objects import CANARY, ObjectClient
from kanaria.web import summary
from kanaria.web.actions import ACTIONS, Act
from kanaria.web.history import DEFAULT_LIMIT, History, stamp
from kanaria.workloads.events import events_of

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("kanaria.web") / "static"))
DEFAULT_SAMPLE_SECONDS = 1.0
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'"
)


class Dashboard:
    """The handlers, over one object store."""

    def __init__(
        self,
        objects: ObjectClient,
        token: str | None,
        act: Act | None,
        clock: Clock,
        history: History,
    ) -> None:
        self.objects = objects
        self.token = token
        self.act = act
        self.clock = clock
        self.history = history

    # ---- pages -------------------------------------------------------------------------------

    async def list_page(self, request: web.Request) -> web.Response:
        return self._page(request, "list", "", "")

    async def canary_page(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        return self._page(request, "canary", namespace, name)

    def _page(self, request: web.Request, page: str, namespace: str, name: str) -> web.Response:
        root = str(request.app.router["index"].url_for())
        template = (STATIC / "index.html").read_text()
        values = {"root": root, "page": page, "namespace": namespace, "name": name}
        for key, value in values.items():
            template = template.replace("{{" + key + "}}", html.escape(value, quote=True))
        return web.Response(text=template, content_type="text/html", headers=_page_headers())

    # ---- JSON --------------------------------------------------------------------------------

    async def list_api(self, request: web.Request) -> web.Response:
        rows = [summary.row(parsed) for parsed in await self.sample()]
        return _json({"now": stamp(self.clock.now()), "canaries": rows, **self._actions()})

    async def canary_api(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        raw = await self.objects.get(CANARY, namespace, name)
        if raw is None:
            return _json({"error": f"canary {name}.{namespace} not found"}, 404)
        parsed = summary.parse(raw)
        events = await events_of(self.objects, raw)
        await self._observe(parsed, events)
        body = summary.detail(parsed, events)
        body["history"] = self.history.series((namespace, name))
        return _json({"now": stamp(self.clock.now()), "canary": body, **self._actions()})

    async def action_api(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        action = request.match_info["action"]
        refusal = self._refusal(request, action)
        if refusal is not None:
            return refusal
        assert self.act is not None  # _refusal answered otherwise
        try:
            result = await self.act(namespace, name, action)
        except NotFoundError as exc:
            return _json({"ok": False, "message": str(exc)}, 404)
        except ConfigError as exc:
            return _json({"ok": False, "message": str(exc)}, 400)
        except KanariaError as exc:
            return _json({"ok": False, "message": str(exc)}, 503)
        status = 202 if result.pending else 200 if result.ok else 409
        body = {"ok": result.ok, "pending": result.pending, "message": result.message}
        return _json(body, status)

    def _refusal(self, request: web.Request, action: str) -> web.Response | None:
        if self.token is None or self.act is None:
            return _json({"ok": False, "message": self._actions()["actionsOff"]}, 403)
        offered = request.headers.get("Authorization", "")
        if not hmac.compare_digest(offered.encode(), f"Bearer {self.token}".encode()):
            message = "401 Unauthorized: a valid API token is required for actions"
            return _json({"ok": False, "message": message}, 401)
        if action not in ACTIONS:
            message = f"unknown action {action!r}; known: {', '.join(ACTIONS)}"
            return _json({"ok": False, "message": message}, 400)
        return None

    def _actions(self) -> dict[str, Any]:
        if self.act is None:
            return {"actionsOff": "actions are not available on this dashboard"}
        if self.token is None:
            return {"actionsOff": "actions are off: no API token is configured"}
        return {"actionsOff": ""}

    # ---- history -----------------------------------------------------------------------------

    async def sample(self) -> list[summary.Parsed]:
        """Read every canary once, record its history, and return them parsed."""
        found = [summary.parse(raw) for raw in await self.objects.list(CANARY, None)]
        for parsed in found:
            key = (parsed.namespace, parsed.name)
            events = (
                await events_of(self.objects, parsed.raw) if self.history.needs_seed(key) else []
            )
            await self._observe(parsed, events)
        self.history.forget_others({(parsed.namespace, parsed.name) for parsed in found})
        return found

    async def _observe(self, parsed: summary.Parsed, events: list[Any]) -> None:
        key = (parsed.namespace, parsed.name)
        if self.history.needs_seed(key):
            self.history.seed(key, summary.weights_from_events(events))
        if parsed.canary is not None:
            self.history.observe(parsed.canary, self.clock.now())

    async def sampler(self, interval: float) -> None:
        """Sample until cancelled; a store that does not answer is retried next time."""
        while True:
            try:
                await self.sample()
            except KanariaError as exc:
                log.warning("dashboard: cannot read canaries: %s", exc)
            await asyncio.sleep(interval)


def dashboard_app(
    objects: ObjectClient,
    *,
    token: str | None,
    act: Act | None,
    clock: Clock | None = None,
    sample_interval: float = DEFAULT_SAMPLE_SECONDS,
    history_limit: int = DEFAULT_LIMIT,
) -> web.Application:
    """The dashboard as an aiohttp application; mount it with `parent.add_subapp("/dashboard/",
    app)` or serve it alone. `token` guards the actions; `act(namespace, name, action)` does
    them (see `web.actions.annotation_act`)."""
    history = History(history_limit)
    dashboard = Dashboard(objects, token, act, clock or SystemClock(), history)
    app = web.Application()
    app.router.add_get("/", dashboard.list_page, name="index")
    app.router.add_get("/canary/{namespace}/{name}", dashboard.canary_page)
    app.router.add_get("/api/canaries", dashboard.list_api)
    app.router.add_get("/api/canaries/{namespace}/{name}", dashboard.canary_api)
    app.router.add_post("/api/canaries/{namespace}/{name}/{action}", dashboard.action_api)
    app.router.add_static("/static/", STATIC, name="static")
    app.cleanup_ctx.append(_run_sampler(dashboard, sample_interval))
    return app


def _run_sampler(
    dashboard: Dashboard, interval: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(dashboard.sampler(interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
