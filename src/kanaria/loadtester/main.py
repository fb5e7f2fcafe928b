"""`python -m kanaria.loadtester`: flags, logging, serving, and a prompt stop.

Flags keep the names of Flagger's load tester and accept its single-dash spelling too
(`-port=8080 -log-level=info -timeout=1h`, as Flagger's manifests pass them), so the seed's
Deployment starts this program unchanged. Everything is checked before the port is bound: a bad
flag exits 2, a hosts file that cannot be bound exits 1, both with one line saying why.

kanaria's own flags make it safe by default (docs/security.md): `--allow-program` extends the
programs commands may run, `--allow-shell` brings back Flagger's `sh -c`, and `--token`,
`--token-file` or `$KANARIA_LOADTESTER_TOKEN` make every request show a token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kanaria.errors import ConfigError, KanariaError, PermanentError
from kanaria.loadtester.commands import CommandPolicy
from kanaria.loadtester.durations import parse_go_duration
from kanaria.loadtester.gates import Gates
from kanaria.loadtester.metrics import LoadTesterMetrics
from kanaria.loadtester.processes import TOKEN_VARIABLE, SubprocessSpawner
from kanaria.loadtester.runner import TaskRunner
from kanaria.loadtester.sandbox import CommandLine, checked_command_line
from kanaria.loadtester.server import LoadTester, build_app
from kanaria.redaction import RedactingFilter

log = logging.getLogger("kanaria.loadtester")

# SIGTERM must end everything within 2 s: 1 s for commands to die, 0.5 s for open requests.
KILL_GRACE_SECONDS = 1.0
HTTP_GRACE_SECONDS = 0.5
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    timeout: float
    namespace_pattern: re.Pattern[str] | None
    log_level: str
    hosts_file: Path | None
    time_scale: float
    policy: CommandPolicy = field(default_factory=CommandPolicy)
    token: str | None = None


def _duration(text: str) -> float:
    try:
        seconds = parse_go_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration, found {text!r}")
    return seconds


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {text!r}")
    return value


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression ({exc}): {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kanaria.loadtester",
        description="Runs webhook commands and gates for canary analysis (Flagger's API).",
        allow_abbrev=False,
    )

    def add(name: str, **kwargs: Any) -> None:
        # Go's flag package reads -port and --port alike; Flagger's manifests use -port.
        parser.add_argument(f"-{name}", f"--{name}", **kwargs)

    add("port", type=int, default=8080, help="HTTP port (default 8080)")
    add("host", default=None, help="bind address (default $POD_IP or 127.0.0.1)")
    add("timeout", type=_duration, default=3600.0, help="exec timeout, e.g. 30s or 1h")
    add("namespace-regexp", type=_pattern, default=None, help="allowed payload namespaces")
    add("log-level", choices=sorted(_LEVELS), default="info", help="log level")
    add("zap-encoding", choices=("json", "console"), default="console", help="accepted; unused")
    add("hosts-file", type=Path, default=None, help="bind this file over /etc/hosts for commands")
    add("time-scale", type=_time_scale, default=1.0, help="divide load-test durations by this")
    add("allow-program", action="append", default=[], type=_program, metavar="PROGRAM",
        help="also let commands run PROGRAM (a name on PATH or an absolute path); repeatable; "
        "hey, curl and ghz are always allowed")  # fmt: skip
    add("allow-shell", action="store_true",
        help="run commands through sh -c (bash -c for type bash) as Flagger does: any program, "
        "any shell syntax; only for a load tester no one else can reach")  # fmt: skip
    add("token", default=None, help="require this token (prefer --token-file: argv is public)")
    add("token-file", type=Path, default=None, help="require the token in this file")
    return parser


def _program(text: str) -> str:
    if not text.strip() or text != text.strip() or ("/" in text and not text.startswith("/")):
        raise argparse.ArgumentTypeError(
            f"expected a program name or an absolute path, found {text!r}"
        )
    return text


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> Options:
    """Options from the command line; argparse exits 2 naming the flag when one is wrong."""
    args = build_parser().parse_args(list(argv))
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, found {args.port}")
    return Options(
        host=args.host or environ.get("POD_IP") or "127.0.0.1",
        port=args.port,
        timeout=args.timeout,
        namespace_pattern=args.namespace_regexp,
        log_level=args.log_level,
        hosts_file=args.hosts_file,
        time_scale=args.time_scale,
        policy=CommandPolicy.of(args.allow_program, allow_shell=args.allow_shell),
        token=_token(args.token, args.token_file, environ),
    )


def _token(flag: str | None, file: Path | None, environ: Mapping[str, str]) -> str | None:
    """The token from the flag, else the file, else the environment; None when none is set."""
    if flag is not None:
        return _nonempty(flag, "--token")
    if file is not None:
        try:
            return _nonempty(file.read_text(encoding="utf-8").strip(), f"--token-file {file}")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--token-file {file}: cannot read it ({exc})") from exc
    if TOKEN_VARIABLE in environ:
        return _nonempty(environ[TOKEN_VARIABLE].strip(), f"${TOKEN_VARIABLE}")
    return None


def _nonempty(token: str, source: str) -> str:
    if not token:
        raise ConfigError(f"{source}: the token is empty")
    return token


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    log.handlers[:] = [handler]  # main() may run more than once in one process (tests)
    log.setLevel(_LEVELS[level])
    log.propagate = False


async def serve(options: Options, command_line: CommandLine, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then kill every command and close within about 2 s."""
    metrics = LoadTesterMetrics()
    runner = TaskRunner(
        SubprocessSpawner(),
        command_line=command_line,
        policy=options.policy,
        timeout=options.timeout,
        time_scale=options.time_scale,
        metrics=metrics,
    )
    tester = LoadTester(runner, Gates(), metrics, options.namespace_pattern, options.token)
    debug = options.log_level == "debug"
    app_runner = web.AppRunner(
        build_app(tester), access_log=log if debug else None, shutdown_timeout=HTTP_GRACE_SECONDS
    )
    await app_runner.setup()
    try:
        await web.TCPSite(app_runner, options.host, options.port).start()
    except OSError as exc:
        await app_runner.cleanup()
        where = f"{options.host}:{options.port}"
        raise PermanentError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    _log_start(options, command_line)
    await stop.wait()
    log.info("stopping: killing running commands")
    await runner.shutdown(KILL_GRACE_SECONDS)
    await app_runner.cleanup()


def _log_start(options: Options, command_line: CommandLine) -> None:
    hosts = f", hosts file {command_line.hosts_file}" if command_line.hosts_file else ""
    log.info(
        "load tester listening on http://%s:%d (timeout %gs, time scale %g%s)",
        options.host, options.port, options.timeout, options.time_scale, hosts,
    )  # fmt: skip
    policy = options.policy
    if policy.allow_shell:
        log.warning("--allow-shell: commands run through a shell and may start any program")
    else:
        log.info("commands may run: %s (no shell)", ", ".join(sorted(policy.programs)))
    log.info("token %s", "required" if options.token else "not required")


async def _run(options: Options, command_line: CommandLine) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(options, command_line, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 2 for bad flags, 1 when the load tester cannot run here."""
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv, os.environ)
        configure_logging(options.log_level)
        command_line = checked_command_line(options.hosts_file)
        asyncio.run(_run(options, command_line))
    except ConfigError as exc:
        print(f"loadtester: error: {exc}", file=sys.stderr)
        return 2
    except KanariaError as exc:
        print(f"loadtester: error: {exc}", file=sys.stderr)
        return 1
    return 0
