"""podinfo's HTTP API as aiohttp applications: the API port and the metrics port.

The scenario's checks talk to this API (`GET /`, `POST /token`, the probes) and the analysis reads
its metrics, so the answers keep podinfo's shapes. Building the applications apart from serving
them lets unit tests drive the handlers without a socket.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from kanaria.apps.podinfo.config import Settings
from kanaria.apps.podinfo.faults import FaultInjector
from kanaria.apps.podinfo.metrics import CONTENT_TYPE_LATEST, AppMetrics
from kanaria.apps.podinfo.tokens import TokenError, TokenIssuer

# A client cannot hold a handler (and a connection) longer than this through /delay/{seconds}.
MAX_DELAY_SECONDS = 600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Probes:
    """The answers of /healthz and /readyz, which tests flip to exercise probes."""

    healthy: bool = True
    ready: bool = True


class AppState:
    """What the handlers share: settings, probe flags, tokens, faults and metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        faults: FaultInjector | None = None,
        tokens: TokenIssuer | None = None,
        hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self.probes = Probes(healthy=not settings.unhealthy, ready=not settings.unready)
        self.faults = faults or FaultInjector(settings)
        self.tokens = tokens or TokenIssuer()
        self.metrics = AppMetrics()
        # On a cluster HOSTNAME is the pod name; the local platform sets it per replica.
        self.hostname = hostname or os.environ.get("HOSTNAME") or socket.gethostname()


STATE = web.AppKey("state", AppState)


def _state(request: web.Request) -> AppState:
    return request.app[STATE]


async def info(request: web.Request) -> web.Response:
    state = _state(request)
    settings = state.settings
    return web.json_response(
        {
            "hostname": state.hostname,
            "version": settings.version,
            "revision": settings.revision,
            "color": settings.ui_color,
            "logo": settings.ui_logo,
            "message": settings.message,
            "goos": sys.platform,
            "goarch": platform.machine(),
            "runtime": f"python{platform.python_version()}",
            "num_goroutine": str(len(asyncio.all_tasks())),
            "num_cpu": str(os.cpu_count() or 1),
        }
    )


async def issue_token(request: web.Request) -> web.Response:
    # podinfo names the token after the request body, or "anonymous" when there is none.
    name = (await request.text()).strip() or "anonymous"
    token = _state(request).tokens.issue(name, datetime.now(UTC))
    return web.json_response({"token": token.text, "expires_at": token.expires_at.isoformat()})


async def validate_token(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    scheme, _, text = header.partition(" ")
    if scheme.lower() != "bearer" or not text:
        return _error(401, "authorization bearer header required")
    try:
        token = _state(request).tokens.check(text.strip(), datetime.now(UTC))
    except TokenError as exc:
        return _error(401, str(exc))
    return web.json_response({"token_name": token.name, "expires_at": token.expires_at.isoformat()})


def _probe(attribute: str) -> Handler:
    async def answer(request: web.Request) -> web.Response:
        if getattr(_state(request).probes, attribute):
            return web.json_response({"status": "OK"})
        return _error(503, "service unavailable")

    return answer


def _probe_switch(attribute: str, value: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        setattr(_state(request).probes, attribute, value)
        return web.json_response({"status": "accepted"}, status=202)

    return switch


async def version(request: web.Request) -> web.Response:
    settings = _state(request).settings
    return web.json_response({"version": settings.version, "commit": settings.revision})


async def status(request: web.Request) -> web.Response:
    try:
        code = int(request.match_info["code"])
    except ValueError:
        return _error(400, "status code must be a number")
    if not 200 <= code <= 599:
        return _error(400, "status code must be between 200 and 599")
    return web.json_response({"status": code}, status=code)


async def delay(request: web.Request) -> web.Response:
    try:
        seconds = float(request.match_info["seconds"])
    except ValueError:
        return _error(400, "delay must be a number of seconds")
    if not 0 <= seconds <= MAX_DELAY_SECONDS:
        return _error(400, f"delay must be between 0 and {MAX_DELAY_SECONDS:g} seconds")
    await asyncio.sleep(seconds)
    return web.json_response({"delay": seconds})


async def env(_request: web.Request) -> web.Response:
    return web.json_response([f"{name}={value}" for name, value in os.environ.items()])


async def headers(request: web.Request) -> web.Response:
    grouped: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        grouped.setdefault(_canonical_header(name), []).append(value)
    return web.json_response(grouped)


def _canonical_header(name: str) -> str:
    # Go spells header names X-Request-Id whatever the client sent; podinfo's answer shows that.
    return "-".join(part.capitalize() for part in name.split("-"))


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(body=body, status=202, content_type=request.content_type)


async def metrics(request: web.Request) -> web.Response:
    body = _state(request).metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


VERSION_HEADER = "X-Podinfo-Version"


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=code)


def _route_label(request: web.Request) -> str:
    # The route template, not the raw path, so /status/500 and /status/200 share one series.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        _state(request).metrics.observe(request.method, _route_label(request), code, elapsed)


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    fault = state.faults.draw(request.path)
    if fault.delay:
        await asyncio.sleep(fault.delay)
    response = _error(500, "random error") if fault.fail else await handler(request)
    # Which version answered, even when the answer is an error without the JSON that says so.
    response.headers[VERSION_HEADER] = state.settings.version
    return response


def build_api_app(state: AppState) -> web.Application:
    app = web.Application(middlewares=[observe_requests, inject_faults])
    app[STATE] = state
    add = app.router.add_route
    add("GET", "/", info)
    add("POST", "/token", issue_token)
    add("GET", "/token/validate", validate_token)
    for name, attribute in (("healthz", "healthy"), ("readyz", "ready")):
        add("GET", f"/{name}", _probe(attribute))
        add("POST", f"/{name}/enable", _probe_switch(attribute, True))
        add("POST", f"/{name}/disable", _probe_switch(attribute, False))
    add("GET", "/version", version)
    add("*", "/status/{code}", status)
    add("GET", "/delay/{seconds}", delay)
    add("GET", "/env", env)
    add("GET", "/headers", headers)
    add("POST", "/echo", echo)
    add("GET", "/metrics", metrics)
    return app


def build_metrics_app(state: AppState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", _probe("healthy"))
    return app
