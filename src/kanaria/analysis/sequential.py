"""The sequential judge: canary against primary on the same live traffic, valid at every look.

Flagger compares each interval's success rate and P99 with fixed thresholds and needs several
failed intervals to roll back; looking more often would only raise its false alarms. This judge
instead accumulates e-values (see `evidence.py`) from the counts of both versions, so it may be
asked after every scrape: a canary no worse than tolerated is rolled back with probability at
most α over the whole analysis, and a clearly worse one is caught as soon as the counts show it.
`docs/analysis.md` states the test, its assumptions and what it does not promise.

The judge is pure: the engine feeds it cumulative counts and keeps `state` in the Canary status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from kanaria.analysis.counts import ERRORS, LATENCY, Counts
from kanaria.analysis.evidence import (
    RateEvidence,
    log_mean_exp,
    log_share_evidence,
    null_share,
)
from kanaria.analysis.judge_state import JudgeState, MetricState
from kanaria.errors import ConfigError


class Decision(StrEnum):
    FAIL = "fail"  # roll back now
    PASS = "pass"  # not worse than tolerated: may promote early, if the user allows it
    CONTINUE = "continue"  # not enough evidence either way yet


@dataclass(frozen=True)
class Tolerance:
    """How much worse the canary may be: its rate may reach max((1 + relative)·primary, absolute).

    The absolute floor keeps a primary without errors from making every canary error fatal.
    """

    relative: float
    absolute: float

    def check(self, name: str) -> None:
        if not (self.relative >= 0.0 and math.isfinite(self.relative)):
            raise ConfigError(f"{name}.relative: expected a number >= 0, got {self.relative}")
        if not 0.0 <= self.absolute < 1.0:
            raise ConfigError(
                f"{name}.absolute: expected a fraction in [0, 1), got {self.absolute}"
            )

    def describe(self) -> str:
        return f"max({1.0 + self.relative:g} × primary, {_percent(self.absolute)})"


@dataclass(frozen=True)
class SequentialConfig:
    """The judge's knobs; the defaults and their reasons are in docs/analysis.md."""

    # Chance, over the whole analysis, of rolling back a canary that is within tolerance on every
    # judged metric (split evenly between them), and of passing one that is not.
    alpha: float = 0.01
    errors: Tolerance = field(default_factory=lambda: Tolerance(relative=0.2, absolute=0.001))
    # A P99 bound tolerates 1 % of requests above it, hence the latency floor.
    latency: Tolerance = field(default_factory=lambda: Tolerance(relative=0.2, absolute=0.01))
    # Requests slower than this count as slow; None judges errors only.
    latency_bound_ms: float | None = 500.0
    # No pass before the canary has served this many requests, whatever the statistics say.
    min_canary_requests: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha: expected a probability in (0, 1), got {self.alpha}")
        self.errors.check("errors")
        self.latency.check("latency")
        if self.latency_bound_ms is not None and not self.latency_bound_ms > 0.0:
            raise ConfigError(f"latency_bound_ms: expected > 0, got {self.latency_bound_ms}")
        if self.min_canary_requests < 0:
            raise ConfigError(f"min_canary_requests: expected >= 0, got {self.min_canary_requests}")

    @property
    def metrics(self) -> tuple[str, ...]:
        return (ERRORS,) if self.latency_bound_ms is None else (ERRORS, LATENCY)

    def tolerance(self, metric: str) -> Tolerance:
        return self.errors if metric == ERRORS else self.latency

    @property
    def fail_threshold(self) -> float:
        # Bonferroni over metrics: the canary fails if any one does.
        return len(self.metrics) / self.alpha

    @property
    def pass_threshold(self) -> float:
        # The canary passes only if every metric does, so each may use the whole α.
        return 1.0 / self.alpha


@dataclass(frozen=True)
class CheckResult:
    """The judgement of one metric at one look, with the numbers behind it."""

    metric: str
    decision: Decision
    canary_events: int
    canary_requests: int
    primary_events: int
    primary_requests: int
    worse_evidence: float  # e-value for "canary worse than tolerated"
    not_worse_evidence: float  # e-value for "canary not worse than tolerated"
    explanation: str


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    checks: tuple[CheckResult, ...]
    explanation: str


class SequentialJudge:
    """Judges a canary from cumulative counts, one look at a time; see the module docstring."""

    def __init__(self, config: SequentialConfig, state: JudgeState | None = None) -> None:
        self.config = config
        self.state = state if state is not None else JudgeState.empty(config.metrics)
        if set(self.state.metrics) != set(config.metrics):
            raise ConfigError(
                f"sequential judge state covers {sorted(self.state.metrics)} but the"
                f" configuration judges {sorted(config.metrics)}: restart the analysis"
            )
        self._worse_tests = {
            metric: RateEvidence(config.tolerance(metric).absolute, above=True)
            for metric in config.metrics
        }
        self._better_tests = {
            metric: RateEvidence(config.tolerance(metric).absolute, above=False)
            for metric in config.metrics
        }

    def reset(self) -> None:
        """Forget everything: the next counts are taken as counted from zero."""
        self.state = JudgeState.empty(self.config.metrics)

    def start_from(self, primary: Counts, canary: Counts) -> None:
        """Forget everything and take these cumulative counts as the analysis's zero point.

        For counts that did not start at the analysis (raw counters since each pod started):
        the primary's history must not weigh as if it had been served beside the canary.
        """
        self.reset()
        self.state = replace(self.state, seen_primary=primary, seen_canary=canary)

    def observe(self, primary: Counts, canary: Counts) -> Verdict:
        """Take the cumulative counts of one look and say what to do now."""
        note = self._take(primary, canary)
        return self._verdict(note)

    def _take(self, primary: Counts, canary: Counts) -> str:
        seen_primary, seen_canary = self.state.seen_primary, self.state.seen_canary
        if primary.went_below(seen_primary) or canary.went_below(seen_canary):
            # A counter reset (a restarted pod) loses an unknown part of the interval: skip it.
            self.state = replace(self.state, seen_primary=primary, seen_canary=canary)
            return "counts went backwards (a counter reset?): this look was skipped"
        primary_delta, canary_delta = primary.minus(seen_primary), canary.minus(seen_canary)
        metrics = self.config.metrics
        if not (_consistent(primary_delta, metrics) and _consistent(canary_delta, metrics)):
            # Counts scraped a moment apart; waiting merges this look into the next one.
            return "more events than requests since the last look: waiting for the next one"
        self._add(primary_delta, canary_delta)
        self.state = replace(self.state, seen_primary=primary, seen_canary=canary)
        return ""

    def _add(self, primary: Counts, canary: Counts) -> None:
        metrics = {
            metric: self._add_metric(self.state.metrics[metric], metric, primary, canary)
            for metric in self.config.metrics
        }
        self.state = replace(
            self.state,
            metrics=metrics,
            canary_requests=self.state.canary_requests + canary.requests,
            primary_requests=self.state.primary_requests + primary.requests,
        )

    def _add_metric(
        self, metric_state: MetricState, metric: str, primary: Counts, canary: Counts
    ) -> MetricState:
        canary_events, primary_events = canary.events(metric), primary.events(metric)
        sums = metric_state.sums
        if canary_events + primary_events:
            ratio = 1.0 + self.config.tolerance(metric).relative
            share = null_share(canary.requests, primary.requests, ratio)
            sums = sums.add(canary_events, canary_events + primary_events, share)
        return replace(
            metric_state,
            sums=sums,
            canary_events=metric_state.canary_events + canary_events,
            primary_events=metric_state.primary_events + primary_events,
        )

    def _verdict(self, note: str) -> Verdict:
        judged = {metric: self._judge_metric(metric) for metric in self.config.metrics}
        metrics = {metric: metric_state for metric, (_, metric_state) in judged.items()}
        self.state = replace(self.state, metrics=metrics)
        checks = tuple(check for check, _ in judged.values())
        decision = _overall(checks, self.state.canary_requests)
        return Verdict(decision, checks, self._summary(decision, checks, note))

    def _judge_metric(self, metric: str) -> tuple[CheckResult, MetricState]:
        metric_state = self.state.metrics[metric]
        log_worse_relative = log_share_evidence(metric_state.sums, canary_worse=True)
        log_worse_absolute = self._worse_tests[metric].log_evidence(
            metric_state.canary_events, self.state.canary_requests
        )
        log_not_worse = self._log_not_worse(metric, metric_state)
        metric_state = self._remember_crossings(
            metric_state, log_worse_relative, log_worse_absolute, log_not_worse
        )
        log_worse = min(log_worse_relative, log_worse_absolute)
        return self._check_result(metric, metric_state, log_worse, log_not_worse), metric_state

    def _log_not_worse(self, metric: str, metric_state: MetricState) -> float:
        # "Within tolerance" holds if either side does, so either test may show it: averaging
        # the two e-values keeps one e-value for the intersection of their nulls.
        log_relative = log_share_evidence(metric_state.sums, canary_worse=False)
        log_absolute = self._better_tests[metric].log_evidence(
            metric_state.canary_events, self.state.canary_requests
        )
        return log_mean_exp((log_relative, log_absolute))

    def _remember_crossings(
        self,
        metric_state: MetricState,
        worse_relative: float,
        worse_absolute: float,
        not_worse: float,
    ) -> MetricState:
        # Ville bounds the chance of *ever* crossing, so a crossing stays counted. "Worse than
        # tolerated" needs both the relative and the absolute test, each at the full level: the
        # null is their union, and whichever part is true keeps its own test from crossing.
        log_fail = math.log(self.config.fail_threshold)
        enough_traffic = self.state.canary_requests >= self.config.min_canary_requests
        return replace(
            metric_state,
            worse_relative=metric_state.worse_relative or worse_relative >= log_fail,
            worse_absolute=metric_state.worse_absolute or worse_absolute >= log_fail,
            not_worse=metric_state.not_worse
            or (enough_traffic and not_worse >= math.log(self.config.pass_threshold)),
        )

    def _check_result(
        self, metric: str, metric_state: MetricState, log_worse: float, log_not_worse: float
    ) -> CheckResult:
        decision = _metric_decision(metric_state)
        result = CheckResult(
            metric=metric,
            decision=decision,
            canary_events=metric_state.canary_events,
            canary_requests=self.state.canary_requests,
            primary_events=metric_state.primary_events,
            primary_requests=self.state.primary_requests,
            worse_evidence=_bounded_exp(log_worse),
            not_worse_evidence=_bounded_exp(log_not_worse),
            explanation="",
        )
        return replace(result, explanation=self._explain(result))

    def _explain(self, result: CheckResult) -> str:
        label = "errors" if result.metric == ERRORS else f"requests over {self._bound_text()}"
        tolerance = self.config.tolerance(result.metric).describe()
        return (
            f"{label}: canary {_share_text(result.canary_events, result.canary_requests)}"
            f" vs primary {_share_text(result.primary_events, result.primary_requests)};"
            f" evidence canary worse than {tolerance}: {_evidence_text(result.worse_evidence)}"
            f" (fail at {self.config.fail_threshold:g} = {len(self.config.metrics)}/α),"
            f" not worse: {_evidence_text(result.not_worse_evidence)}"
            f" (pass at {self.config.pass_threshold:g} = 1/α) → {result.decision}"
        )

    def _bound_text(self) -> str:
        return f"{self.config.latency_bound_ms:g} ms"

    def _summary(self, decision: Decision, checks: tuple[CheckResult, ...], note: str) -> str:
        if self.state.canary_requests == 0:
            head = "no canary traffic yet"
        elif decision is Decision.PASS:
            head = f"canary within tolerance after {self.state.canary_requests} requests"
        else:
            head = ""
        decisive = [check for check in checks if check.decision is Decision.FAIL] or list(checks)
        parts = [part for part in (head, note, *(c.explanation for c in decisive)) if part]
        return "; ".join(parts)


def _consistent(delta: Counts, metrics: tuple[str, ...]) -> bool:
    return all(delta.events(metric) <= delta.requests for metric in metrics)


def _metric_decision(metric_state: MetricState) -> Decision:
    if metric_state.worse_relative and metric_state.worse_absolute:
        return Decision.FAIL
    if metric_state.not_worse:
        return Decision.PASS
    return Decision.CONTINUE


def _overall(checks: tuple[CheckResult, ...], canary_requests: int) -> Decision:
    if any(check.decision is Decision.FAIL for check in checks):
        return Decision.FAIL
    if canary_requests and all(check.decision is Decision.PASS for check in checks):
        return Decision.PASS
    return Decision.CONTINUE


# Far beyond any threshold, yet still a float that prints and serialises.
_EVIDENCE_CAP = 1e300


def _bounded_exp(log_value: float) -> float:
    return math.exp(min(log_value, math.log(_EVIDENCE_CAP)))


def _percent(fraction: float) -> str:
    return f"{100.0 * fraction:.2g} %" if fraction < 0.001 else f"{100.0 * fraction:.2f} %"


def _share_text(events: int, requests: int) -> str:
    if not requests:
        return f"{events} of 0"
    return f"{events} of {requests} ({_percent(events / requests)})"


def _evidence_text(value: float) -> str:
    if value >= 1e6:
        return f"{value:.1e}"
    return f"{value:.3g}"
