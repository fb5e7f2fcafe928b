"""One release of one scenario and seed, decided by every policy side by side.

Each policy gets its own in-memory world (`engine/simulated.py`) and the real engine: a tick
every `analysis.interval` (`tick.advance`) and, with a judge, a look every `lookInterval`
between ticks (`tick.look`), on the cadence of `engine/scheduler.py`. Between those moments
the traffic simulator serves requests at the weights the engine has set.

All policies start from the same simulator seed, so they see the same requests for as long as
their weights agree. The simulator's output depends only on its random state and the weights it
is given, so policies whose weights agree share one simulator, and it is copied at the moment
their weights part: each policy still sees exactly the traffic it would see alone (a test checks
this), at a fraction of the cost.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from kanaria.analysis.counts import Counts
from kanaria.analysis.simulation import Scenario, TrafficSimulator
from kanaria.engine.ports import World
from kanaria.engine.simulated import SimulatedWorld, simulated_world
from kanaria.engine.tick import advance, look
from kanaria.errors import ConfigError, KanariaError, PermanentError
from kanaria.platforms.simulated.policies import Policy
from kanaria.platforms.simulated.traffic import TrafficRecord
from kanaria.spec.canary import Phase

log = logging.getLogger(__name__)

NEW_IMAGE = "stefanprodan/podinfo:3.1.1"
# A release the engine has not decided after this long is reported as undecided.
DEFAULT_MAX_SECONDS = 3600

EngineStep = Callable[[World, str, str], Awaitable[None]]


class Outcome(StrEnum):
    ROLLED_BACK = "rolled back"
    PROMOTED = "promoted"  # the analysis ended well: the spec is copied to the primary
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class ReleaseResult:
    scenario: str
    policy: str
    seed: int
    outcome: Outcome
    seconds: float | None  # from the new revision to the rollback or the promotion
    blast_radius: float  # canary requests that failed or took > 500 ms until then
    canary_requests: int
    decided_by: str  # "checks", "judge" or "" (promoted on the weight schedule / undecided)


class PolicyRun:
    """One policy's world, the traffic it has seen, and its tick and look schedule."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.sim: SimulatedWorld = simulated_world()
        self.canary = self.sim.canaries.put(policy.document())
        self.record = TrafficRecord(chunk_seconds=1)
        self.simulator: TrafficSimulator | None = None
        self.sim.observer.script = self.record.measure
        self.sim.observer.counts_script = self._counts
        self.outcome: Outcome | None = None
        self.seconds: float | None = None

    @property
    def tick_every(self) -> int:
        return _whole_seconds(self.canary.spec.analysis.interval_seconds, "analysis.interval")

    @property
    def look_every(self) -> int:
        judge = self.canary.spec.analysis.judge
        return 0 if judge is None else _whole_seconds(judge.look_interval, "judge.lookInterval")

    @property
    def schedule_seconds(self) -> int:
        """When the weight schedule alone promotes: a tick to start, one per step, one to end."""
        analysis = self.canary.spec.analysis
        steps = len(analysis.step_weights) or math.ceil(
            (analysis.max_weight or 0) / (analysis.step_weight or 1)
        )
        return self.tick_every * (steps + 1)

    @property
    def windows(self) -> list[int]:
        return [
            _whole_seconds(metric.interval_seconds, f"metric {metric.name} interval")
            for metric in self.canary.spec.analysis.metrics
        ]

    @property
    def canary_weight(self) -> float:
        return self.sim.router.routes.canary_weight / 100.0

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def _counts(self) -> tuple[Counts, Counts]:
        judge = self.canary.spec.analysis.judge
        bound_ms = 1000.0 * (judge.latency_bound or 0.5) if judge else 500.0
        assert self.simulator is not None, "counts asked before the release started"
        return self.simulator.cumulative_counts(bound_ms)

    async def initialise(self) -> None:
        """Initialize the Canary (no traffic needed), then set the new image: a release."""
        for _ in range(10):
            await self._step(advance)
            self.sim.clock.advance(self.tick_every)
            if self.phase is Phase.INITIALIZED:
                self.sim.target.image = NEW_IMAGE
                return
        raise PermanentError(f"policy {self.policy.name}: the Canary never initialized")

    def start(self, simulator: TrafficSimulator, chunk_seconds: int) -> None:
        """The release begins: its traffic comes from `simulator`, `chunk_seconds` at a time."""
        self.simulator = simulator
        self.record.chunk_seconds = chunk_seconds

    async def act(self, elapsed: int) -> None:
        """At `elapsed` seconds into the release: a tick, a judge look, or nothing."""
        since_tick = elapsed % self.tick_every
        if since_tick == 0:
            await self._step(advance)
        elif self.look_every and since_tick % self.look_every == 0:
            await self._step(look)
        self._note_phase(elapsed)

    async def _step(self, step: EngineStep) -> None:
        try:
            await step(self.sim.world, self.canary.namespace, self.canary.name)
        except KanariaError as exc:
            # As the scheduler does: a temporary problem is retried at the next tick.
            log.info("%s: %s", self.policy.name, exc)

    @property
    def phase(self) -> Phase:
        status = self.sim.canaries.status(self.canary.namespace, self.canary.name)
        return Phase(status.get("phase", Phase.INITIALIZING.value))

    def _note_phase(self, elapsed: int) -> None:
        phase = self.phase
        if phase is Phase.FAILED:
            self.outcome, self.seconds = Outcome.ROLLED_BACK, float(elapsed)
        elif phase in (Phase.PROMOTING, Phase.FINALISING, Phase.SUCCEEDED):
            self.outcome, self.seconds = Outcome.PROMOTED, float(elapsed)
            self._serve_everyone(elapsed)

    def _serve_everyone(self, elapsed: int) -> None:
        """A version promoted before its schedule ended serves all traffic until that end.

        So the blast radius of a bad canary promoted early counts what it does to everyone, not
        only the little it did while it was a canary: promoting early must not look like harm
        avoided. The simulator is copied first, as other policies may still be sharing it.
        """
        left = self.schedule_seconds - elapsed
        if left <= 0 or self.simulator is None:
            return
        self.simulator = copy.deepcopy(self.simulator)
        self.record.add(self.simulator.run(left, canary_weight=1.0))

    def result(self, scenario: Scenario, seed: int) -> ReleaseResult:
        return ReleaseResult(
            scenario=scenario.name,
            policy=self.policy.name,
            seed=seed,
            outcome=self.outcome or Outcome.UNDECIDED,
            seconds=self.seconds,
            blast_radius=self.record.canary_bad,
            canary_requests=self.record.canary_requests,
            decided_by=self._decided_by(),
        )

    def _decided_by(self) -> str:
        messages = self.sim.events.messages
        if any("sequential judge" in m or m.startswith("Sequential judge") for m in messages):
            return "judge"
        return "checks" if self.outcome is Outcome.ROLLED_BACK else ""


def _whole_seconds(seconds: float, what: str) -> int:
    if seconds != int(seconds) or seconds <= 0:
        raise ConfigError(f"{what}: the benchmark needs a whole number of seconds, got {seconds}")
    return int(seconds)


async def run_release(
    scenario: Scenario,
    seed: int,
    policies: tuple[Policy, ...],
    max_seconds: int = DEFAULT_MAX_SECONDS,
) -> list[ReleaseResult]:
    """Release the same canary under every policy, on the same traffic, until each decides."""
    runs = [PolicyRun(policy) for policy in policies]
    step = _common_step(runs)
    simulator = TrafficSimulator(scenario, seed)
    for run in runs:
        await run.initialise()
        run.start(simulator, step)
    for elapsed in range(0, max_seconds, step):
        for run in runs:
            if not run.done:
                await run.act(elapsed)
        active = [run for run in runs if not run.done]
        if not active:
            break
        flow(active, step)
    return [run.result(scenario, seed) for run in runs]


# Traffic is served in chunks of at most this many seconds, whatever policies run together: the
# blast radius counts requests that both failed and were slow per chunk, so chunks must not
# depend on which policies share a release.
LONGEST_STEP = 10


def _common_step(runs: list[PolicyRun]) -> int:
    """The longest step that lands on every tick, look and metric window boundary."""
    durations = [run.tick_every for run in runs] + [run.look_every for run in runs]
    durations += [window for run in runs for window in run.windows]
    return math.gcd(LONGEST_STEP, *durations)


def flow(runs: list[PolicyRun], seconds: int) -> None:
    """Serve the next `seconds` of traffic to every run at its own weight.

    Runs that share a simulator and a weight share the draw; where weights part, the simulator
    is copied first, so each copy continues the same random stream.
    """
    sharing: dict[int, list[PolicyRun]] = {}
    for run in runs:
        sharing.setdefault(id(run.simulator), []).append(run)
    for group in sharing.values():
        by_weight: dict[float, list[PolicyRun]] = {}
        for run in group:
            by_weight.setdefault(run.canary_weight, []).append(run)
        source = group[0].simulator
        assert source is not None
        copies = [source] + [copy.deepcopy(source) for _ in range(len(by_weight) - 1)]
        for simulator, (weight, same) in zip(copies, by_weight.items(), strict=True):
            chunk = simulator.run(seconds, weight)
            for run in same:
                run.simulator = simulator
                run.record.add(chunk)
                run.sim.clock.advance(seconds)
