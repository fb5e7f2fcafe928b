"""`kanaria demo`: the reference scenario end to end on the local platform.

It starts a local platform in a fresh state directory, applies `examples/seed/`, waits for the
Canary to initialize, plays users through the gateway, sets the image as the seed does, and
shows the release as it happens; then the final `describe`, a summary, and an exit code that
says whether the release ended as the scenario expects. `--scenario rollback` releases a
version the image catalog marks faulty (30 % of requests fail) and expects a rollback.
`--judge` adds kanaria's sequential judge (`analysis.judge`) to the seed Canary: a rollback is
then expected from the judge, before Flagger's rule has counted two failed checks.
Everything it started is stopped at the end, on Ctrl-C too, unless `--keep` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from kanaria.cli import local
from kanaria.errors import ConfigError, PermanentError
from kanaria.platforms.local.state import ControlPlaneConfig, StateDir
from kanaria.spec.objects import CANARY, DEPLOYMENT, EVENT

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"
NAMESPACE, CANARY_NAME = "test", "podinfo"
IMAGES = {
    "promote": "stefanprodan/podinfo:3.1.1",
    "rollback": "stefanprodan/podinfo:3.1.1-faulty",
}
EXPECTEDEVENTS = {
    "promote": ["Promotion completed! Scaling down podinfo.test"],
    "rollback": [
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ],
}
JUDGE_ROLLBACK = "Rolling back podinfo.test sequential judge: "
# The judge as docs/analysis.md shows it in a Canary, its defaults otherwise.
JUDGE = {"lookInterval": "10s"}
DEFAULT_TIME_SCALE = 20.0
SEED_INTERVAL_SECONDS, SEED_THRESHOLD = 60.0, 5


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the reference scenario end to end on the local platform",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--scenario", choices=sorted(IMAGES), default="promote")
    parser.add_argument(
        "--time-scale", type=local._positive, default=DEFAULT_TIME_SCALE,
        help=f"how many times faster than real time (default {DEFAULT_TIME_SCALE:g})",
    )  # fmt: skip
    parser.add_argument(
        "--judge", action="store_true",
        help="add the sequential judge (analysis.judge) to the seed Canary",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the platform running")
    parser.add_argument("--state-dir", help="use this state dir instead of a fresh one")
    parser.add_argument("--gateway-port", type=local._port, default=0, help="0: any free port")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not SEED.is_dir():
        raise ConfigError(
            f"the seed manifests are not at {SEED} (run kanaria from its source tree)"
        )
    root = (
        Path(args.state_dir) if args.state_dir else Path(tempfile.mkdtemp(prefix="kanaria-demo-"))
    )
    state = StateDir.at(str(root))
    config = ControlPlaneConfig(args.time_scale, args.gateway_port or _free_port(), 0)
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"kanaria demo: scenario {args.scenario}{', with the judge' if args.judge else ''},"
        f" time scale {args.time_scale:g}, state dir {root}"
    )
    urls = local.start_in_background(state, config)
    try:
        demo = Demo(args.scenario, args.time_scale, state, urls, console, judge=args.judge)
        return asyncio.run(demo.run())
    finally:
        if args.keep:
            console.print(
                f"\nthe platform keeps running: KANARIA_STATE_DIR={root} kanaria get canaries -A"
            )
            console.print(f"stop it with: kanaria local down --state-dir {root}")
        else:
            local.stop_platform(state)
            console.print("stopped everything the demo started")


def _free_port() -> int:
    from kanaria.platforms.local.binaries import free_port  # noqa: PLC0415

    return free_port()


@dataclass
class Outcome:
    phase: str
    events: list[str]
    envoy_steps: list[int]
    seconds: float
    traffic: Any
    reaction_seconds: float | None = None
    failures: list[str] = field(default_factory=list)
    failed_checks: int = 0


class Demo:
    def __init__(
        self,
        scenario: str,
        time_scale: float,
        state: StateDir,
        urls: dict[str, str],
        console: Console,
        *,
        judge: bool = False,
    ) -> None:
        self.judge = judge
        self.scenario = scenario
        self.time_scale = time_scale
        self.state = state
        self.urls = urls
        self.console = console

    async def run(self) -> int:
        from kanaria.platforms.local.client import ApiClient  # noqa: PLC0415

        async with ApiClient.for_state(self.state) as client:
            await self._apply_seed(client)
            await self._step(
                "waiting for the Canary to initialize", self._phase_is(client, "Initialized")
            )
            outcome = await self._release(client)
            await self._report(client, outcome)
        return 0 if not outcome.failures else 1

    async def _apply_seed(self, client: Any) -> None:
        from kanaria.cli.kubectl import read_manifests  # noqa: PLC0415

        manifests = read_manifests([str(SEED)], None)
        if self.judge:
            for manifest in manifests:
                if manifest.get("kind") == "Canary":
                    manifest["spec"]["analysis"]["judge"] = dict(JUDGE)
        for result in await client.apply(manifests):
            self.console.print(f"  {result['line']}")

    async def _step(self, what: str, done: Any, limit: float = 300.0) -> None:
        started = time.monotonic()
        with self.console.status(what + " …"):
            while not await done():
                if time.monotonic() - started > limit:
                    raise PermanentError(f"gave up {what} after {limit:g} s")
                await asyncio.sleep(0.25)
        self.console.print(f"  {what}: done in {time.monotonic() - started:.1f} s")

    def _phase_is(self, client: Any, phase: str) -> Any:
        async def check() -> bool:
            canary = await client.get(CANARY, NAMESPACE, CANARY_NAME)
            return bool(canary and (canary.get("status") or {}).get("phase") == phase)

        return check

    async def _release(self, client: Any) -> Outcome:
        from kanaria.cli.demo_watch import EnvoyWeights, UserTraffic  # noqa: PLC0415

        traffic = UserTraffic(f"{self.urls['gateway']}/")
        weights = EnvoyWeights(self.urls["envoyAdmin"])
        async with _running(traffic.run(), traffic.stop), _running(weights.run(), weights.stop):
            await asyncio.sleep(1.0)  # users are served by the primary before the release
            started = time.monotonic()
            await self._set_image(client)
            phase = await self._follow(client, started)
            await asyncio.sleep(0.5)  # one more Envoy sample after the last step
        events = [str(e.get("message", "")) for e in await _events(client)]
        outcome = Outcome(phase, events, weights.steps(), time.monotonic() - started, traffic.tally)
        canary = await client.get(CANARY, NAMESPACE, CANARY_NAME)
        outcome.failed_checks = int(((canary or {}).get("status") or {}).get("failedChecks", 0))
        if traffic.tally.first_failure is not None:
            back = weights.first_time_at(0, after=traffic.tally.first_failure)
            outcome.reaction_seconds = None if back is None else back - traffic.tally.first_failure
        outcome.failures = self._judge(outcome)
        return outcome

    async def _set_image(self, client: Any) -> None:
        from kanaria.cli.kubectl import set_images  # noqa: PLC0415

        deployment = await client.get(DEPLOYMENT, NAMESPACE, "podinfo")
        image = IMAGES[self.scenario]
        set_images(deployment, {"podinfod": image})
        await client.replace(deployment)
        self.console.print(f"\n$ kanaria set image deployment/podinfo podinfod={image} -n test")

    async def _follow(self, client: Any, started: float) -> str:
        from kanaria.cli import status  # noqa: PLC0415

        limit = 40 * SEED_INTERVAL_SECONDS / self.time_scale + 120
        live = Live(console=self.console, auto_refresh=False) if self.console.is_terminal else None
        printed: set[str] = set()
        with live or contextlib.nullcontext():
            while time.monotonic() - started < limit:
                view = await status.read_view(client, NAMESPACE, CANARY_NAME)
                phase = str((view.raw.get("status") or {}).get("phase", ""))
                if live is not None:
                    live.update(
                        Group(
                            Text(f"elapsed {time.monotonic() - started:.0f} s"), status.render(view)
                        ),
                        refresh=True,
                    )
                else:
                    self._print_new_events(view.events, printed, started)
                if phase in ("Succeeded", "Failed") and _finished(view.events, phase):
                    return phase
                await asyncio.sleep(0.5)
        return "timed out"

    def _print_new_events(self, events: list[Any], printed: set[str], started: float) -> None:
        for event in events:
            key = f"{event['metadata']['name']}/{event.get('count')}"
            if key not in printed:
                printed.add(key)
                self.console.print(
                    f"  [{time.monotonic() - started:5.1f} s] "
                    f"{event.get('type')}: {event.get('message')}"
                )

    def _judge(self, outcome: Outcome) -> list[str]:
        failures = []
        expected_phase = "Succeeded" if self.scenario == "promote" else "Failed"
        if outcome.phase != expected_phase:
            failures.append(f"the release ended {outcome.phase}, expected {expected_phase}")
        for message in self._expected_events():
            if not any(event.endswith(message) for event in outcome.events):
                failures.append(f"no event {message!r}")
        if self.judge and self.scenario == "rollback":
            failures += self._judged_early(outcome)
        if self.scenario == "promote" and [w for w in outcome.envoy_steps if w][:5] != [
            10,
            20,
            30,
            40,
            50,
        ]:
            failures.append(f"Envoy served canary weights {outcome.envoy_steps}, expected 10 → 50")
        if outcome.envoy_steps[-1:] != [0]:
            failures.append(f"the canary still gets {outcome.envoy_steps[-1:]} % of the traffic")
        return failures

    def _expected_events(self) -> list[str]:
        if self.judge and self.scenario == "rollback":
            return ["Canary failed! Scaling down podinfo.test"]
        return EXPECTEDEVENTS[self.scenario]

    def _judged_early(self, outcome: Outcome) -> list[str]:
        """The judge, not the threshold, rolled back, before a second failed check was counted."""
        if not any(event.startswith(JUDGE_ROLLBACK) for event in outcome.events):
            return [f"no event starting {JUDGE_ROLLBACK!r}"]
        if outcome.failed_checks >= 2:
            return [f"the judge rolled back after {outcome.failed_checks} failed checks"]
        return []

    async def _report(self, client: Any, outcome: Outcome) -> None:
        from kanaria.cli.describe import describe, events_about  # noqa: PLC0415

        canary = await client.get(CANARY, NAMESPACE, CANARY_NAME)
        all_events = await client.list(EVENT, NAMESPACE)
        self.console.print("\n$ kanaria describe canary/podinfo -n test   (last lines)")
        text = describe(canary, events_about(all_events, canary), datetime.now(UTC))
        self.console.print(text[text.find("Events:") :].rstrip(), markup=False)
        await self._summary(outcome)

    async def _summary(self, outcome: Outcome) -> None:
        tally = outcome.traffic
        served = ", ".join(
            f"{version}: {count}" for version, count in sorted(tally.by_version.items())
        )
        lines = [
            f"release took {outcome.seconds:.1f} s at time scale {self.time_scale:g} "
            f"({outcome.seconds * self.time_scale / 60:.1f} min of seed time)",
            f"user requests through the gateway: {tally.total} ({served})",
            f"canary weights served by Envoy: {' → '.join(map(str, outcome.envoy_steps))} %",
        ]
        lines += await self._canary_quality(outcome.seconds)
        if self.judge:
            lines.append(f"failed checks counted by Flagger's rule: {outcome.failed_checks}")
        if outcome.reaction_seconds is not None:
            bound = SEED_INTERVAL_SECONDS * SEED_THRESHOLD / self.time_scale
            lines.append(
                f"rollback reaction: {outcome.reaction_seconds:.1f} s from the first failed "
                "request "
                f"to 0 % canary traffic in Envoy (lower bound interval × threshold = {bound:.1f} s)"
            )
        self.console.print("\nSummary")
        for line in lines:
            self.console.print(f"  {line}")
        verdict = (
            "as expected"
            if not outcome.failures
            else "NOT as expected: " + "; ".join(outcome.failures)
        )
        self.console.print(f"  the release ended {outcome.phase}, {verdict}")

    async def _canary_quality(self, seconds: float) -> list[str]:
        from kanaria.providers import NoValuesError, PrometheusProvider  # noqa: PLC0415

        window = f"{max(int(seconds) + 5, 10)}s"
        selector = (
            'reporter="destination",destination_workload_namespace="test",'
            'destination_workload="podinfo"'
        )
        success = (
            f'sum(increase(istio_requests_total{{{selector},response_code!~"5.*"}}[{window}]))'
            f" / sum(increase(istio_requests_total{{{selector}}}[{window}])) * 100"
        )
        buckets = f"istio_request_duration_milliseconds_bucket{{{selector}}}"
        p99 = f"histogram_quantile(0.99, sum(increase({buckets}[{window}])) by (le))"
        async with PrometheusProvider(self.urls["prometheus"]) as prometheus:
            try:
                rate, latency = await prometheus.query(success), await prometheus.query(p99)
            except NoValuesError:
                return ["the canary served no requests that Prometheus saw"]
        return [
            f"canary (podinfo workload) over the release: success rate {rate:.2f} %, "
            f"P99 {latency:.0f} ms"
        ]


def _finished(events: list[Any], phase: str) -> bool:
    wanted = "Promotion completed!" if phase == "Succeeded" else "Canary failed!"
    return any(wanted in str(event.get("message", "")) for event in events)


async def _events(client: Any) -> list[Any]:
    from kanaria.cli.describe import events_about  # noqa: PLC0415

    canary = await client.get(CANARY, NAMESPACE, CANARY_NAME)
    return events_about(await client.list(EVENT, NAMESPACE), canary)


@contextlib.asynccontextmanager
async def _running(work: Any, stop: Any) -> AsyncIterator[None]:
    task = asyncio.ensure_future(work)
    try:
        yield
    finally:
        stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
