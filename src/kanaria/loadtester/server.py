"""The load tester's HTTP API, the one Flagger's webhooks call (reference/flagger.md §4.2).

Canary YAML written for Flagger points its webhooks at `http://flagger-loadtester.test/` and its
gates at `/gate/check`; these handlers give the same answers with the same status codes, so the
controller's webhook client and existing manifests need no change.

Unlike Flagger's, every route but `/healthz` and `/metrics` is guarded (`guard`):

- the body must be declared `Content-Type: application/json` (415 otherwise), as both Flagger's
  and kanaria's webhook clients declare it. A web page can post `text/plain` anywhere without
  asking, but JSON only after a CORS preflight that this server never grants;
- a request that carries `Origin` comes from a browser, never from a webhook client, and is
  refused (403): that also stops a page that rebinds its own DNS name to this address;
- with a token configured (`--token`, `--token-file` or `$KANARIA_LOADTESTER_TOKEN`), the request
  must carry it as `Authorization: Bearer <token>` or as the password of HTTP basic auth, which
  a webhook URL can hold (`http://hooks:<token>@flagger-loadtester.test/`), since Flagger's
  webhook has no header field (401 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import hdrs, web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kanaria.loadtester.commands import CommandRefused
from kanaria.loadtester.gates import Gates, gate_key, rollback_key
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.runner import ShuttingDown, TaskRunner
from kanaria.loadtester.tasks import (
    Payload,
    PayloadError,
    TaskKind,
    parse_payload,
    task_from_payload,
)

Handler = Callable[[web.Request], Awaitable[web.Response]]
AnyHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class LoadTester:
    """What the handlers share."""

    runner: TaskRunner
    gates: Gates
    metrics: LoadTesterMetrics
    namespace_pattern: re.Pattern[str] | None = None
    token: str | None = None

    def allows(self, namespace: str) -> bool:
        # Unanchored, like Go's regexp.MatchString: write ^test$ to allow exactly "test".
        return self.namespace_pattern is None or bool(self.namespace_pattern.search(namespace))

    def authorizes(self, authorization: str) -> bool:
        """Whether the Authorization header carries the token (always, when there is none)."""
        if self.token is None:
            return True
        offered = _offered_token(authorization)
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())


def _offered_token(authorization: str) -> str | None:
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


LOADTESTER = web.AppKey("loadtester", LoadTester)


def _tester(request: web.Request) -> LoadTester:
    return request.app[LOADTESTER]


async def _payload(request: web.Request) -> Payload:
    try:
        return parse_payload(await request.read())
    except PayloadError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from exc


async def run_task(request: web.Request) -> web.Response:
    tester = _tester(request)
    payload = await _payload(request)
    if not tester.allows(payload.namespace):
        return web.Response(status=403, text=f"namespace {payload.namespace!r} is not allowed\n")
    try:
        task = task_from_payload(payload)
        job = tester.runner.prepare(task)
    except PayloadError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    except CommandRefused as exc:
        return web.Response(status=403, text=f"command refused: {exc}\n")
    if task.kind is TaskKind.CMD:
        started = tester.runner.start_background(job)
        return web.Response(status=202, text="started\n" if started else "already running\n")
    result = await tester.runner.run_blocking(job)
    output = result.output.decode(errors="replace")
    if not result.succeeded:
        return web.Response(
            status=500, text=f"command {result.describe()}: {task.command}\n{output}"
        )
    return web.Response(status=200, text=output if task.return_output else "")


async def approve(_request: web.Request) -> web.Response:
    return web.Response(status=200, text="Approved\n")


async def halt(_request: web.Request) -> web.Response:
    return web.Response(status=403, text="Forbidden\n")


def _check(key_of: Callable[[str], str]) -> Handler:
    async def check(request: web.Request) -> web.Response:
        payload = await _named_payload(request)
        if _tester(request).gates.is_open(key_of(payload.canary)):
            return web.Response(status=200, text="Approved\n")
        return web.Response(status=403, text="Forbidden\n")

    return check


def _switch(key_of: Callable[[str], str], open_it: bool) -> Handler:
    async def switch(request: web.Request) -> web.Response:
        payload = await _named_payload(request)
        gates = _tester(request).gates
        (gates.open if open_it else gates.close)(key_of(payload.canary))
        state = "opened" if open_it else "closed"
        return web.Response(status=202, text=f"{key_of(payload.canary)} {state}\n")

    return switch


async def _named_payload(request: web.Request) -> Payload:
    payload = await _payload(request)
    if not payload.name or not payload.namespace:
        raise web.HTTPBadRequest(text="name and namespace are required to find the gate\n")
    return payload


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(status=200, text="OK\n")


async def metrics(request: web.Request) -> web.Response:
    response = web.Response(body=_tester(request).metrics.exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


# Health and metrics are read by probes and Prometheus, which send neither JSON nor a token.
_UNGUARDED = frozenset({"/healthz", "/metrics"})


@web.middleware
async def guard(request: web.Request, handler: AnyHandler) -> web.StreamResponse:
    """Refuse what a webhook client would not send (see the module docstring)."""
    if request.path in _UNGUARDED:
        return await handler(request)
    if request.content_type != "application/json":
        found = request.headers.get(hdrs.CONTENT_TYPE, "none")
        return web.Response(
            status=415, text=f"Content-Type must be application/json, found {found}\n"
        )
    if hdrs.ORIGIN in request.headers:
        return web.Response(status=403, text="requests from web pages (with Origin) are refused\n")
    if not _tester(request).authorizes(request.headers.get(hdrs.AUTHORIZATION, "")):
        return web.Response(
            status=401,
            text="this load tester wants its token (Authorization: Bearer, or basic auth)\n",
            headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="loadtester"'},
        )
    return await handler(request)


@web.middleware
async def shutting_down_is_503(request: web.Request, handler: AnyHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ShuttingDown as exc:
        return web.Response(status=503, text=f"{exc}\n")


def build_app(tester: LoadTester) -> web.Application:
    app = web.Application(middlewares=[guard, shutting_down_is_503])
    app[LOADTESTER] = tester
    add = app.router.add_route
    add("POST", "/", run_task)
    add("*", "/gate/approve", approve)
    add("*", "/gate/halt", halt)
    for prefix, key_of in (("/gate", gate_key), ("/rollback", rollback_key)):
        add("*", f"{prefix}/check", _check(key_of))
        add("*", f"{prefix}/open", _switch(key_of, open_it=True))
        add("*", f"{prefix}/close", _switch(key_of, open_it=False))
    add("GET", "/healthz", healthz)
    add("GET", "/metrics", metrics)
    return app
