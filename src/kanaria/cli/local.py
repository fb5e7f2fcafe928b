"""`kanaria local up|down|status`: start, stop and inspect the local platform.

`up` starts the control plane in its own session (`python -m
kanaria.platforms.local.controlplane`, output in `<state dir>/logs/controlplane.log`), waits
until its API answers healthy, and prints where everything listens; `--foreground` runs it in
this process instead and stops everything on Ctrl-C or SIGTERM. `down` stops it and everything
it started, using the pid files, so it also cleans up after a control plane killed with
SIGKILL. The state dir is `--state-dir`, else `$KANARIA_STATE_DIR`, else
`~/.local/state/kanaria`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kanaria.errors import ConfigError, PermanentError, TemporaryError
from kanaria.platforms.local.state import (
    ControlPlaneConfig,
    StateDir,
    is_locked,
    lock_owner,
    recorded_processes,
)

UP_TIME_LIMIT_SECONDS = 60.0
DOWN_GRACE_SECONDS = 20.0
POLL_SECONDS = 0.05
DEFAULT_GATEWAY_PORT = 18080


def register(commands: Any) -> None:
    parser = commands.add_parser("local", help="run the local platform (up, down, status)")
    verbs = parser.add_subparsers(dest="local_command", metavar="up|down|status", required=True)
    up = verbs.add_parser("up", help="start the local platform")
    _state_dir(up)
    up.add_argument("--time-scale", type=_positive, default=1.0, help="divide every interval by N")
    up.add_argument("--gateway-port", type=_port, default=DEFAULT_GATEWAY_PORT)
    up.add_argument("--api-port", type=_port, default=0, help="API port (default: any free one)")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops all")
    up.set_defaults(run=up_command)
    down = verbs.add_parser("down", help="stop the local platform and everything it started")
    _state_dir(down)
    down.set_defaults(run=down_command)
    status = verbs.add_parser("status", help="show each component and its health")
    _state_dir(status)
    status.set_defaults(run=status_command)


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where the platform keeps its state (default $KANARIA_STATE_DIR or "
        "~/.local/state/kanaria)",
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), found {text!r}")
    return int(text)


# ---- up --------------------------------------------------------------------------------------


def up_command(args: argparse.Namespace) -> int:
    state = StateDir.at(args.state_dir)
    if is_locked(state):
        owner = lock_owner(state)
        raise PermanentError(
            f"the local platform already runs on {state.root}"
            + (f" (control plane pid {owner})" if owner else "")
            + "; see kanaria local status, or stop it with kanaria local down"
        )
    config = ControlPlaneConfig(args.time_scale, args.gateway_port, args.api_port)
    if args.foreground:
        return _up_in_foreground(state, config)
    return _up_in_background(state, config)


def _up_in_foreground(state: StateDir, config: ControlPlaneConfig) -> int:
    # Imported here, as every heavy import of the CLI, so that `kanaria validate` stays quick.
    from kanaria.platforms.local import controlplane  # noqa: PLC0415

    def ready(components: controlplane.Components) -> None:
        _print_urls(state, components.urls(), config.time_scale, started=None)
        print("running in the foreground; Ctrl-C stops everything", flush=True)

    asyncio.run(controlplane.serve(state, config, controlplane.standard_controllers(), ready))
    print("stopped")
    return 0


def _up_in_background(state: StateDir, config: ControlPlaneConfig) -> int:
    started = time.monotonic()
    urls = start_in_background(state, config)
    _print_urls(state, urls, config.time_scale, started=time.monotonic() - started)
    return 0


def start_in_background(state: StateDir, config: ControlPlaneConfig) -> dict[str, str]:
    """Start the control plane in its own session; its URLs once its API answers healthy."""
    state.create()
    state.api.unlink(missing_ok=True)
    log_path = state.logs / "controlplane.log"
    command = [
        sys.executable, "-m", "kanaria.platforms.local",
        "--state-dir", str(state.root),
        "--time-scale", repr(config.time_scale),
        "--gateway-port", str(config.gateway_port),
        "--api-port", str(config.api_port),
        "--controller", "kanaria.web.local:dashboard",
    ]  # fmt: skip
    with log_path.open("ab") as log_file:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C in this terminal must not reach it
            close_fds=True,
        )
    return asyncio.run(_await_healthy(state, child, log_path))


async def _await_healthy(
    state: StateDir, child: subprocess.Popen[bytes], log_path: Path
) -> dict[str, str]:
    from kanaria.platforms.local.client import ApiClient  # noqa: PLC0415

    deadline = time.monotonic() + UP_TIME_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise PermanentError(
                f"the control plane exited with code {child.returncode}:\n{_tail(log_path)}"
            )
        if state.api.exists():
            async with ApiClient.for_state(state, time_limit=2.0) as client:
                if await client.healthy():
                    return dict((await client.config())["urls"])
        await asyncio.sleep(POLL_SECONDS)
    raise TemporaryError(
        f"the control plane (pid {child.pid}) did not answer within "
        f"{UP_TIME_LIMIT_SECONDS:g} s; see {log_path}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def _print_urls(
    state: StateDir, urls: Mapping[str, str | None], time_scale: float, started: float | None
) -> None:
    took = f" in {started:.1f} s" if started is not None else ""
    print(f"kanaria local platform is up{took} (state dir {state.root})")
    rows = [
        ("API", urls.get("api")),
        ("Gateway", urls.get("gateway")),
        ("Prometheus", urls.get("prometheus")),
        ("Envoy admin", urls.get("envoyAdmin")),
        ("Dashboard", _dashboard_url(state)),
        ("Time scale", f"{time_scale:g}"),
        ("Logs", str(state.logs)),
    ]
    for label, value in rows:
        print(f"  {label + ':':<13}{value or '-'}")


def _dashboard_url(state: StateDir) -> str | None:
    """The dashboard's address, once its controller has started (it may take a moment)."""
    for _ in range(40):
        try:
            return (state.root / "dashboard.url").read_text(encoding="utf-8").strip()
        except OSError:
            time.sleep(POLL_SECONDS)
    return None


# ---- down ------------------------------------------------------------------------------------


def down_command(args: argparse.Namespace) -> int:

    state = StateDir.at(args.state_dir)
    if not state.root.is_dir():
        raise ConfigError(f"{state.root} is not a kanaria state dir (it does not exist)")
    owner = stop_platform(state)
    print(
        f"stopped the control plane (pid {owner})" if owner else "no control plane was running",
        f"on {state.root}",
    )
    return 0


def stop_platform(state: StateDir) -> int | None:
    """Stop the control plane and everything it started; its pid, if one was running."""
    from kanaria.platforms.local import controlplane  # noqa: PLC0415

    owner = lock_owner(state) if is_locked(state) else None
    if owner is not None:
        _stop_control_plane(state, owner)
    survivors = controlplane.sweep(state)
    state.api.unlink(missing_ok=True)
    if survivors:
        raise PermanentError(f"these processes survived SIGKILL: {survivors}")
    return owner


def _stop_control_plane(state: StateDir, pid: int) -> None:
    """SIGTERM (it stops what it started), then SIGKILL if it hangs; the sweep does the rest."""
    for sig, grace in ((signal.SIGTERM, DOWN_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not is_locked(state):
                return
            time.sleep(POLL_SECONDS)


# ---- status ----------------------------------------------------------------------------------


def status_command(args: argparse.Namespace) -> int:
    state = StateDir.at(args.state_dir)
    if not is_locked(state):
        print(f"the local platform is not running (state dir {state.root})")
        leftovers = [r for r in recorded_processes(state) if r.alive()]
        for record in leftovers:
            print(f"  left running: {record.name} (pid {record.pid}); kanaria local down stops it")
        return 1
    status = asyncio.run(_status(state))
    print(render_status(status))
    return 0 if status.get("healthy") else 1


async def _status(state: StateDir) -> dict[str, Any]:
    from kanaria.platforms.local.client import ApiClient  # noqa: PLC0415

    async with ApiClient.for_state(state, time_limit=5.0) as client:
        return await client.status()


def render_status(status: dict[str, Any]) -> str:
    """A `kubectl get`-style table of the components."""
    from kanaria.cli.describe import human_duration, table  # noqa: PLC0415

    replicas = status.get("replicas") or {}
    rows = [
        [
            "control-plane",
            "yes",
            f"pid {status.get('pid')}, up {human_duration(status.get('uptimeSeconds', 0))}, "
            f"time scale {status.get('timeScale')}, API {status['urls'].get('api')}",
        ]
    ]
    rows += [
        [part["name"], "yes" if part["healthy"] else "NO", str(part.get("detail", ""))]
        for part in status.get("components", [])
    ]
    rows.append(["gateway", "-", str(status["urls"].get("gateway"))])
    rows.append(["replicas", "-", f"{replicas.get('ready', 0)}/{replicas.get('total', 0)} ready"])
    return table(["COMPONENT", "HEALTHY", "DETAIL"], rows)
