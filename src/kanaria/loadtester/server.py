"""The load tester's HTTP API, the one Flagger's webhooks call (reference/flagger.md §4.2).

Canary YAML written for Flagger points its webhooks at `http://flagger-loadtester.test/` and its
gates at `/gate/check`; these handlers give the same answers with the same status codes, so the
controller's webhook client and existing manifests need no change.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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

    def allows(self, namespace: str) -> bool:
        # Unanchored, like Go's regexp.MatchString: write ^test$ to allow exactly "test".
        return self.namespace_pattern is None or bool(self.namespace_pattern.search(namespace))


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
    except PayloadError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    if task.kind is TaskKind.CMD:
        started = tester.runner.start_background(task)
        return web.Response(status=202, text="started\n" if started else "already running\n")
    result = await tester.runner.run_blocking(task)
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


@web.middleware
async def shutting_down_is_503(request: web.Request, handler: AnyHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ShuttingDown as exc:
        return web.Response(status=503, text=f"{exc}\n")


def build_app(tester: LoadTester) -> web.Application:
    app = web.Application(middlewares=[shutting_down_is_503])
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
