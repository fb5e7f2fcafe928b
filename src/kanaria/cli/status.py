"""`kanaria status canary/NAME [--watch]` and `kanaria wait canary/NAME --for=condition=…`.

`status` is the release at a glance, like Argo Rollouts' `get rollout --watch`: phase, the
traffic split as a bar, each check's last value against its threshold, the webhooks and what
they last answered (as far as the Events tell), the images and replicas of primary and canary,
and the recent Events. With `--watch` it redraws in place on a terminal (rich Live) and, when
the output is a file or a pipe, prints the whole view again each time it changes.

`wait` is for CI pipelines. It waits for *the current revision* to be promoted or to fail: a
canary still showing `Succeeded` from the last release does not count once the Deployment has
a new template or config (the same revision test the engine makes). Exit codes: 0 the condition
was met, 1 the release ended the other way, 2 bad input (a wrong flag, no such canary), 3 the
timeout passed first.

Both read through an `ObjectClient` from `connect(args)`: the local platform's API by default
(`--state-dir`, as every kubectl-like verb); tests and other platforms replace `connect`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from kanaria.cli.describe import age, event_interval, events_about
from kanaria.clock import SystemClock
from kanaria.errors import ConfigError, NotFoundError, TemporaryError
from kanaria.spec.canary import Canary, Phase
from kanaria.spec.duration import parse_duration
from kanaria.spec.naming import primary_name
from kanaria.spec.objects import CANARY, DEPLOYMENT, EVENT, Object, ObjectClient
from kanaria.workloads.deployment import DeploymentTarget

EXIT_MET = 0
EXIT_OTHER_OUTCOME = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3
POLL_SECONDS = 1.0
DEFAULT_WATCH_LIMIT = "24h"
RECENT_EVENTS = 10
BAR_WIDTH = 40
_CANARY_TYPES = frozenset({"canary", "canaries", "canary.flagger.app", "canaries.flagger.app"})

Connect = Callable[[argparse.Namespace], AbstractAsyncContextManager[ObjectClient]]


def _platform_client(args: argparse.Namespace) -> AbstractAsyncContextManager[ObjectClient]:
    """The cluster's API with `--kubeconfig` (or $KANARIA_PLATFORM=kubernetes), else the local
    platform of `--state-dir`."""
    kubeconfig = getattr(args, "kubeconfig", None)
    if kubeconfig or os.environ.get("KANARIA_PLATFORM") == "kubernetes":
        return _kubernetes_client(Path(kubeconfig) if kubeconfig else None)
    # Imported here so that `kanaria validate` does not pay for aiohttp.
    from kanaria.platforms.local.client import ApiClient  # noqa: PLC0415
    from kanaria.platforms.local.state import StateDir  # noqa: PLC0415

    return ApiClient.for_state(StateDir.at(args.state_dir))


@contextlib.asynccontextmanager
async def _kubernetes_client(kubeconfig: Path | None) -> AsyncIterator[ObjectClient]:
    from kubernetes_asyncio import client  # noqa: PLC0415

    from kanaria.platforms.kubernetes.client import KubernetesObjects  # noqa: PLC0415
    from kanaria.platforms.kubernetes.login import load_configuration  # noqa: PLC0415

    async with client.ApiClient(await load_configuration(kubeconfig)) as api:
        yield KubernetesObjects(api)


connect: Connect = _platform_client


# ---- the command line ------------------------------------------------------------------------


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="a canary's release at a glance; --watch follows it live",
        description="Phase, traffic split, checks, webhooks, images and recent events.",
    )
    status.add_argument("target", metavar="canary/NAME")
    status.add_argument("-w", "--watch", action="store_true", help="keep the view up to date")
    status.add_argument(
        "--timeout",
        default=DEFAULT_WATCH_LIMIT,
        metavar="D",
        help=f"stop watching after D (default {DEFAULT_WATCH_LIMIT})",
    )
    connection_flags(status)
    status.set_defaults(run=run_status)

    wait = commands.add_parser(
        "wait",
        help="wait until the current revision is promoted (or failed); exit codes for CI",
        description="Exit 0 when the condition is met, 1 when the release ended the other "
        "way, 2 on bad input, 3 on timeout.",
    )
    wait.add_argument("target", metavar="canary/NAME")
    wait.add_argument("--for", dest="condition", required=True, metavar="condition=promoted|failed")
    wait.add_argument("--timeout", default="30s", metavar="D", help="how long (default 30s)")
    connection_flags(wait)
    wait.set_defaults(run=run_wait)


def connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="the platform's state dir (default $KANARIA_STATE_DIR or ~/.local/state/kanaria)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="act on a Kubernetes cluster through this kubeconfig instead of the local platform",
    )


def canary_name(target: str) -> str:
    """`canary/NAME`, `canaries/NAME`, `canary.flagger.app/NAME`, or a bare NAME."""
    kind, slash, name = target.rpartition("/")
    if not slash:
        name, kind = target, "canary"
    if kind.lower() not in _CANARY_TYPES or not name:
        raise ConfigError(f"expected canary/NAME, got {target!r}")
    return name


def wanted_outcome(condition: str) -> str:
    match = re.fullmatch(r"condition=(promoted|failed)", condition.strip(), re.IGNORECASE)
    if match is None:
        raise ConfigError(
            f"--for={condition}: expected --for=condition=promoted or --for=condition=failed"
        )
    return match.group(1).lower()


def duration_flag(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} {text}: {exc}") from exc


def run_status(args: argparse.Namespace) -> int:
    name = canary_name(args.target)
    namespace = args.namespace or "default"
    limit = duration_flag(args.timeout, "--timeout")
    console = Console()
    return asyncio.run(_status(args, console, namespace, name, limit))


async def _status(
    args: argparse.Namespace, console: Console, namespace: str, name: str, limit: float
) -> int:
    async with connect(args) as objects:
        try:
            if not args.watch:
                print_view(console, await read_view(objects, namespace, name))
                return EXIT_MET
            await watch(objects, namespace, name, console, limit)
        except NotFoundError:
            print(_not_found(name), file=sys.stderr)
            return EXIT_OTHER_OUTCOME
    return EXIT_MET


def run_wait(args: argparse.Namespace) -> int:
    try:
        name = canary_name(args.target)
        wanted = wanted_outcome(args.condition)
        limit = duration_flag(args.timeout, "--timeout")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return asyncio.run(_wait(args, args.namespace or "default", name, wanted, limit))


async def _wait(
    args: argparse.Namespace, namespace: str, name: str, wanted: str, limit: float
) -> int:
    async with connect(args) as objects:
        try:
            outcome = await wait_for(objects, namespace, name, limit)
        except NotFoundError:
            print(f"error: {_not_found(name)}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if outcome is None:
        print(f"error: timed out waiting for the condition on canaries/{name}", file=sys.stderr)
        return EXIT_TIMEOUT
    if outcome.result == wanted:
        print(f"canary.flagger.app/{name} condition met ({outcome.describe()})")
        return EXIT_MET
    print(f"canary.flagger.app/{name} {outcome.describe()}", file=sys.stderr)
    return EXIT_OTHER_OUTCOME


def _not_found(name: str) -> str:
    return f'Error from server (NotFound): canaries.flagger.app "{name}" not found'


# ---- wait ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str  # promoted or failed
    phase: str
    message: str

    def describe(self) -> str:
        return f"{self.result}: {self.phase}" + (f" — {self.message}" if self.message else "")


async def wait_for(
    objects: ObjectClient, namespace: str, name: str, limit: float, poll: float = POLL_SECONDS
) -> Outcome | None:
    """Poll until the current revision is promoted or has failed; None after `limit` seconds.

    A store that does not answer for a moment is asked again; a canary that does not exist
    is a NotFoundError at once (nothing will make it appear by itself)."""
    deadline = time.monotonic() + limit
    for _ in range(int(limit / poll) + 2):
        try:
            outcome = await current_outcome(objects, namespace, name)
        except NotFoundError:
            raise
        except TemporaryError:
            outcome = None  # the store did not answer this time
        if outcome is not None:
            return outcome
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    return None


async def current_outcome(objects: ObjectClient, namespace: str, name: str) -> Outcome | None:
    raw = await objects.get(CANARY, namespace, name)
    if raw is None:
        raise NotFoundError(_not_found(name))
    canary = Canary.model_validate(raw)
    status = canary.status
    if not await _is_current(objects, canary):
        return None
    condition = next((c for c in status.conditions if c.type == "Promoted"), None)
    message = condition.message if condition else ""
    if status.phase in (Phase.SUCCEEDED, Phase.INITIALIZED):
        return Outcome("promoted", status.phase.value, message)
    if status.phase is Phase.FAILED:
        return Outcome("failed", status.phase.value, message)
    return None


async def _is_current(objects: ObjectClient, canary: Canary) -> bool:
    """Whether the status is about the target's current template and configs (the engine's
    own revision test); targets other than Deployments are taken as current."""
    if canary.spec.target_ref.kind != "Deployment":
        return True
    try:
        revision = await DeploymentTarget(objects, SystemClock()).revision(canary)
    except NotFoundError:
        return False  # no target (yet): nothing to call promoted
    status = canary.status
    settled = (
        status.last_promoted_spec if status.phase is not Phase.FAILED else status.last_applied_spec
    )
    return revision.spec_hash == settled and revision.configs == status.tracked_configs


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """Everything the status view shows, read at one moment."""

    raw: Object
    canary: Canary | None
    events: list[Object]
    target: Object | None
    primary: Object | None
    now: datetime


async def read_view(
    objects: ObjectClient, namespace: str, name: str, now: datetime | None = None
) -> View:
    raw = await objects.get(CANARY, namespace, name)
    if raw is None:
        raise NotFoundError(_not_found(name))
    try:
        canary: Canary | None = Canary.model_validate(raw)
    except ValueError:
        canary = None  # shown from the raw object, with its status message
    target_name = canary.spec.target_ref.name if canary else name
    target = await objects.get(DEPLOYMENT, namespace, target_name)
    primary = await objects.get(DEPLOYMENT, namespace, primary_name(target_name))
    events = events_about(await objects.list(EVENT, namespace), raw)
    return View(raw, canary, events, target, primary, now or datetime.now(UTC))


# ---- rendering -------------------------------------------------------------------------------

_PHASE_LOOK: dict[str, tuple[str, str]] = {
    "Succeeded": ("✔", "green"),
    "Initialized": ("✔", "green"),
    "Progressing": ("◌", "blue"),
    "Promoting": ("◌", "blue"),
    "Finalising": ("◌", "blue"),
    "Initializing": ("◌", "cyan"),
    "Waiting": ("‖", "yellow"),
    "WaitingPromotion": ("‖", "yellow"),
    "Failed": ("✖", "red"),
    "Terminating": ("•", "dim"),
    "Terminated": ("•", "dim"),
}
_VERDICT_LOOK = {
    "pass": ("✔", "green"),
    "fail": ("✖", "red"),
    "no-data": ("?", "yellow"),
    "error": ("⚠", "yellow"),
}


def render(view: View) -> RenderableType:
    """The whole view; plain text when the console has no colours."""
    parts: list[RenderableType] = [_header(view)]
    if view.canary is not None:
        parts += _section("Checks", _checks(view.canary, view.now))
        parts += _section("Webhooks", _webhooks(view))
    parts += _section(f"Events (last {RECENT_EVENTS})", _events(view))
    return Group(*parts)


def print_view(console: Console, view: View) -> None:
    """Print once; without a terminal, as plain lines with no trailing blanks (for logs)."""
    if console.is_terminal:
        console.print(render(view))
        return
    console.out(plain(console, view), end="")


def plain(console: Console, view: View) -> str:
    with console.capture() as capture:
        console.print(render(view))
    return "".join(line.rstrip() + "\n" for line in capture.get().splitlines())


def _section(title: str, content: RenderableType) -> list[RenderableType]:
    return [Text(""), Text(title + ":", style="bold"), Padding(content, (0, 0, 0, 2))]


def _header(view: View) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    status = view.raw.get("status") or {}
    metadata = view.raw.get("metadata") or {}
    grid.add_row("Name:", str(metadata.get("name", "")))
    grid.add_row("Namespace:", str(metadata.get("namespace") or "default"))
    grid.add_row("Status:", _phase(str(status.get("phase") or "Initializing"), status))
    message = _message(view)
    if message:
        grid.add_row("Message:", message)
    if view.canary is not None:
        for label, value in _progress_rows(view.canary, view.now):
            grid.add_row(label, value)
    for label, value in _workload_rows(view):
        grid.add_row(label, value)
    return grid


def _phase(phase: str, status: dict[str, Any]) -> Text:
    icon, style = _PHASE_LOOK.get(phase, ("?", "white"))
    text = Text(f"{icon} {phase}", style=style)
    if status.get("paused"):
        text.append("  (paused)", style="yellow")
    return text


def _message(view: View) -> str:
    status = view.raw.get("status") or {}
    if status.get("message"):
        return str(status["message"])
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    promoted = next((c for c in conditions if c.get("type") == "Promoted"), {})
    return str(promoted.get("message") or "")


def _progress_rows(canary: Canary, now: datetime) -> list[tuple[str, RenderableType]]:
    analysis, status = canary.spec.analysis, canary.status
    rows: list[tuple[str, RenderableType]] = [("Strategy:", _strategy(canary))]
    step = _step(canary)
    if step:
        rows.append(("  Step:", step))
    rows.append(("  Traffic:", weight_bar(status.canary_weight)))
    rows.append(("  Failed checks:", f"{status.failed_checks}/{analysis.failed_checks_threshold}"))
    if status.last_transition_time:
        when = f"{status.last_transition_time} ({age(status.last_transition_time, now)} ago)"
        rows.append(("  Last transition:", when))
    return rows


def _strategy(canary: Canary) -> str:
    analysis = canary.spec.analysis
    names = {"canary": "Canary", "blue-green": "Blue/Green", "ab-testing": "A/B testing"}
    strategy = names[analysis.strategy.value]
    if analysis.step_weights:
        return f"{strategy} (steps {','.join(map(str, analysis.step_weights))})"
    if analysis.step_weight:
        return (
            f"{strategy} (step {analysis.step_weight}%, max {analysis.max_canary_weight}%, "
            f"every {analysis.interval_seconds:g}s)"
        )
    return f"{strategy} ({analysis.iterations} iterations, every {analysis.interval_seconds:g}s)"


def _step(canary: Canary) -> str:
    analysis, weight = canary.spec.analysis, canary.status.canary_weight
    if analysis.step_weights:
        done = sum(1 for step in analysis.step_weights if step <= weight)
        return f"{done}/{len(analysis.step_weights)}"
    if analysis.step_weight:
        total = math.ceil(analysis.max_canary_weight / analysis.step_weight)
        return f"{min(total, weight // analysis.step_weight)}/{total}"
    if analysis.iterations:
        return f"{canary.status.iterations}/{analysis.iterations}"
    return ""


def weight_bar(canary_weight: int, width: int = BAR_WIDTH) -> Text:
    """`canary 30% ████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░ primary 70%`."""
    filled = round(width * max(0, min(100, canary_weight)) / 100)
    text = Text(f"canary {canary_weight:>3}% ")
    text.append("█" * filled, style="yellow")
    text.append("░" * (width - filled), style="bright_black")
    text.append(f" primary {100 - canary_weight}%")
    return text


def _workload_rows(view: View) -> list[tuple[str, RenderableType]]:
    rows: list[tuple[str, RenderableType]] = []
    images = [
        f"{image} ({role})"
        for role, deployment in (("primary", view.primary), ("canary", view.target))
        for image in _images(deployment)
    ]
    if images:
        rows.append(("Images:", "\n".join(images)))
    replicas = [
        f"{role} {_replicas(deployment)}"
        for role, deployment in (("primary", view.primary), ("canary", view.target))
        if deployment is not None
    ]
    if replicas:
        rows.append(("Replicas:", " · ".join(replicas)))
    return rows


def _images(deployment: Object | None) -> list[str]:
    if deployment is None:
        return []
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [str(c.get("image")) for c in pod.get("containers") or [] if c.get("image")]


def _replicas(deployment: Object) -> str:
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    return f"{ready}/{desired} ready"


def _checks(canary: Canary, now: datetime) -> RenderableType:
    metrics = canary.spec.analysis.metrics
    if not metrics:
        return Text("none (the analysis has no metrics)", style="dim")
    measured = {check.name: check for check in canary.status.checks}
    table = _table("NAME", "LAST VALUE", "THRESHOLD", "VERDICT", "MEASURED")
    for metric in metrics:
        check = measured.get(metric.name)
        threshold = metric.threshold_range.describe() if metric.threshold_range else "–"
        if check is None:
            table.add_row(metric.name, "–", threshold, Text("not measured yet", style="dim"), "")
            continue
        icon, style = _VERDICT_LOOK.get(check.verdict, ("?", "white"))
        value = "no value" if check.value is None else f"{check.value:g}"
        when = f"{age(check.time, now)} ago" if check.time else ""
        verdict = Text(f"{icon} {check.verdict}", style=style)
        table.add_row(metric.name, value, check.threshold or threshold, verdict, when)
    return table


def _table(*headers: str) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False)
    for index, header in enumerate(headers):
        # every column but the last stays on one line; long messages wrap in the last one
        table.add_column(header, header_style="bold", no_wrap=index < len(headers) - 1)
    return table


def _webhooks(view: View) -> RenderableType:
    assert view.canary is not None
    hooks = [hook for hook in view.canary.spec.analysis.webhooks if hook.type.value != "event"]
    if not hooks:
        return Text("none", style="dim")
    last = gate_results(view.events)
    table = _table("NAME", "TYPE", "LAST RESULT")
    for hook in hooks:
        table.add_row(hook.name, hook.type.value, _gate_cell(last.get(hook.name), view.now))
    return table


def _gate_cell(result: GateResult | None, now: datetime) -> Text:
    if result is None:
        return Text("– no result recorded", style="dim")
    icon, style = {"passed": ("✔", "green"), "waiting": ("‖", "yellow")}.get(
        result.outcome, ("✖", "red")
    )
    return Text(f"{icon} {result.outcome} {age(result.time, now)} ago", style=style)


def _events(view: View) -> RenderableType:
    recent = view.events[-RECENT_EVENTS:]
    if not recent:
        return Text("<none>", style="dim")
    table = _table("AGE", "TYPE", "MESSAGE")
    for event in recent:
        style = "yellow" if event.get("type") == "Warning" else ""
        table.add_row(
            event_interval(event, view.now),
            Text(str(event.get("type", "")), style=style),
            str(event.get("message", "")).strip(),
        )
    return table


# ---- what the Events say about webhooks --------------------------------------------------------

_COMBINED = "(combined from similar events): "
_GATE_EVENTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^[A-Z][a-z-]+ check (?P<hook>\S+) passed$"), "passed"),
    (re.compile(r"advancement waiting for (?:\w+ )*approval (?P<hook>\S+)$"), "waiting"),
    (re.compile(r"advancement (?:pre-rollout|external) check (?P<hook>\S+) failed"), "failed"),
    (re.compile(r"^Post-rollout check (?P<hook>\S+) failed"), "failed"),
]


@dataclass(frozen=True)
class GateResult:
    outcome: str  # passed, waiting or failed
    time: str


def gate_results(events: Sequence[Object]) -> dict[str, GateResult]:
    """The last result per webhook name that the Events record (oldest events first)."""
    results: dict[str, GateResult] = {}
    for event in events:
        message = str(event.get("message") or "").removeprefix(_COMBINED)
        for pattern, outcome in _GATE_EVENTS:
            found = pattern.search(message)
            if found:
                stamp = str(event.get("lastTimestamp") or event.get("firstTimestamp") or "")
                results[found.group("hook")] = GateResult(outcome, stamp)
                break
    return results


# ---- watching --------------------------------------------------------------------------------


async def watch(
    objects: ObjectClient,
    namespace: str,
    name: str,
    console: Console,
    limit: float,
    *,
    poll: float = POLL_SECONDS,
) -> None:
    """Redraw until `limit` seconds pass or the user interrupts: in place on a terminal, and
    as a new block whenever the view changes otherwise."""
    views = _views(objects, namespace, name, limit, poll)
    if console.is_terminal:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            async for view in views:
                live.update(render(view), refresh=True)
        return
    shown = ""
    async for view in views:
        text = plain(console, view)
        if _without_ages(text) != _without_ages(shown):
            if shown:
                console.rule(view.now.strftime("%H:%M:%S"))
            console.out(text, end="")
            shown = text


async def _views(
    objects: ObjectClient, namespace: str, name: str, limit: float, poll: float
) -> AsyncIterator[View]:
    deadline = time.monotonic() + limit
    for _ in range(int(limit / poll) + 1):
        try:
            view: View | None = await read_view(objects, namespace, name)
        except NotFoundError:
            raise
        except TemporaryError:
            view = None  # the store did not answer this time; keep the last view up
        if view is not None:
            yield view
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(poll)


def _without_ages(text: str) -> str:
    """The view minus what changes by itself (ages), to print a new block only on news."""
    return re.sub(r"\b\d+[smhdy](\d+[smh])?\b", "", text)
