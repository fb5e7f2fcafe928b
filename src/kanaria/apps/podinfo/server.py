"""Runs the podinfo app: binds its ports, logs like podinfo, stops promptly on SIGTERM.

The local platform starts one of these per replica and stops it on scale-down or rollback; a
replica that lingered would keep serving the old version, so a stop must finish within a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import disable_created_metrics

from kanaria.apps.podinfo.app import AppState, build_api_app, build_metrics_app
from kanaria.apps.podinfo.config import Settings, parse_settings
from kanaria.errors import ConfigError, KanariaError, PermanentError

log = logging.getLogger("podinfo")

# In-flight requests get this long to finish once a stop is asked for.
SHUTDOWN_GRACE_SECONDS = 0.5

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line with level, ts and msg, as podinfo's zap logger writes them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "level": record.levelname.lower().replace("warning", "warn"),
            "ts": round(record.created, 3),
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        return json.dumps(line)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    log.handlers[:] = [handler]  # main() may run more than once in one process (tests)
    log.setLevel(_LEVELS[level])
    log.propagate = False


async def _listen(app: web.Application, host: str, port: int, debug: bool) -> web.AppRunner:
    runner = web.AppRunner(
        app, access_log=log if debug else None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise PermanentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return runner


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then stop answering within SHUTDOWN_GRACE_SECONDS."""
    state = AppState(settings)
    debug = settings.level == "debug"
    runners = [await _listen(build_api_app(state), settings.host, settings.port, debug)]
    if settings.metrics_port:
        metrics_app = build_metrics_app(state)
        runners.append(await _listen(metrics_app, settings.host, settings.metrics_port, debug))
    fields = {"version": settings.version, "host": settings.host, "port": settings.port}
    log.info("Starting HTTP server", extra={"fields": fields})
    if settings.grpc_port:
        log.debug("gRPC is not served", extra={"fields": {"port": settings.grpc_port}})
    await stop.wait()
    state.probes.ready = False
    log.info("Shutting down HTTP server")
    await asyncio.gather(*(runner.cleanup() for runner in runners))


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m kanaria.apps.podinfo`; returns the exit status."""
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"podinfo: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.level)
    # podinfo exports no *_created series; dashboards and tests expect only its own names.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
    try:
        asyncio.run(_run(settings))
    except KanariaError as exc:
        log.error(str(exc))
        return 1
    return 0
