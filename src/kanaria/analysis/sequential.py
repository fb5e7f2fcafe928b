"""The sequential judge: canary against primary on the same live traffic, valid at every look.

Flagger compares each interval's success rate and P99 with fixed thresholds and needs several
failed intervals to roll back; looking more often would only raise its false alarms. This judge
instead multiplies, look by look, e-value factors computed from that look's counts of both
versions (see `evidence.py`), so it may be asked after every scrape: a canary that is within
tolerance of the primary in every look is rolled back with probability at most α over the whole
analysis, however the traffic and the primary's own error rate change, and a clearly worse one is
caught as soon as the counts show it. A second test, against a wider promotion tolerance, says
when a canary is shown good enough to promote before its schedule ends. `docs/analysis.md` states
both tests, their proofs and their assumptions.

The judge is pure: the engine feeds it cumulative counts and keeps `state` in the Canary status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from kanaria.analysis.counts import ERRORS, LATENCY, Counts
from kanaria.analysis.evidence import (
    Look,
    added,
    better_floor_log_factors,
    better_share_log_factors,
    log_mean_exp,
    worse_log_factors,
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
    # judged metric (split evenly between them), and of passing one that is beyond the promotion
    # tolerance on some metric.
    alpha: float = 0.01
    errors: Tolerance = field(default_factory=lambda: Tolerance(relative=0.2, absolute=0.001))
    # A P99 bound tolerates 1 % of requests above it, hence the latency floor.
    latency: Tolerance = field(default_factory=lambda: Tolerance(relative=0.2, absolute=0.01))
    # Requests slower than this count as slow; None judges errors only.
    latency_bound_ms: float | None = 500.0
    # No pass before the canary has served this many requests, whatever the statistics say.
    min_canary_requests: int = 1000
    # How much worse a canary may be and still pass (be promoted before its schedule ends): wider
    # than the rollback tolerance, since proving "no more than 20 % worse" takes hundreds of
    # events; a canary between the two is neither rolled back nor passed with any guarantee.
    promotion_errors: Tolerance = field(
        default_factory=lambda: Tolerance(relative=1.0, absolute=0.005)
    )
    promotion_latency: Tolerance = field(
        default_factory=lambda: Tolerance(relative=1.0, absolute=0.02)
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"alpha: expected a probability in (0, 1), got {self.alpha}")
        self.errors.check("errors")
        self.latency.check("latency")
        self.promotion_errors.check("promotion_errors")
        self.promotion_latency.check("promotion_latency")
        if self.latency_bound_ms is not None and not self.latency_bound_ms > 0.0:
            raise ConfigError(f"latency_bound_ms: expected > 0, got {self.latency_bound_ms}")
        if self.min_canary_requests < 0:
            raise ConfigError(f"min_canary_requests: expected >= 0, got {self.min_canary_requests}")

    @property
    def metrics(self) -> tuple[str, ...]:
        return (ERRORS,) if self.latency_bound_ms is None else (ERRORS, LATENCY)

    def tolerance(self, metric: str) -> Tolerance:
        return self.errors if metric == ERRORS else self.latency

    def promotion_tolerance(self, metric: str) -> Tolerance:
        return self.promotion_errors if metric == ERRORS else self.promotion_latency

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
        look = Look(
            canary_requests=canary.requests,
            canary_events=canary.events(metric),
            primary_requests=primary.requests,
            primary_events=primary.events(metric),
        )
        tolerance = self.config.tolerance(metric)
        worse = worse_log_factors(look, 1.0 + tolerance.relative, tolerance.absolute)
        return replace(
            metric_state,
            worse_wealth=added(metric_state.worse_wealth, worse),
            better_wealth=added(metric_state.better_wealth, self._better(metric, look)),
            canary_events=metric_state.canary_events + look.canary_events,
            primary_events=metric_state.primary_events + look.primary_events,
        )

    def _better(self, metric: str, look: Look) -> tuple[float, ...]:
        # "Not worse than the promotion tolerance" holds if either of its sides does, so either
        # side's test may show it: the judge runs both and averages them (an average of e-values
        # is one), the relative side's alternatives first, then the floor's.
        tolerance = self.config.promotion_tolerance(metric)
        share = better_share_log_factors(look, 1.0 + tolerance.relative)
        return share + better_floor_log_factors(look, tolerance.absolute)

    def _verdict(self, note: str) -> Verdict:
        judged = {metric: self._judge_metric(metric) for metric in self.config.metrics}
        metrics = {metric: metric_state for metric, (_, metric_state) in judged.items()}
        self.state = replace(self.state, metrics=metrics)
        checks = tuple(check for check, _ in judged.values())
        decision = _overall(checks)
        return Verdict(decision, checks, self._summary(decision, checks, note))

    def _judge_metric(self, metric: str) -> tuple[CheckResult, MetricState]:
        metric_state = self.state.metrics[metric]
        log_worse = log_mean_exp(metric_state.worse_wealth)
        log_not_worse = log_mean_exp(metric_state.better_wealth)
        # Ville bounds the chance of *ever* crossing, so a crossing stays counted.
        metric_state = replace(
            metric_state,
            worse=metric_state.worse or log_worse >= math.log(self.config.fail_threshold),
            not_worse=metric_state.not_worse
            or log_not_worse >= math.log(self.config.pass_threshold),
        )
        return self._check_result(metric, metric_state, log_worse, log_not_worse), metric_state

    def _check_result(
        self, metric: str, metric_state: MetricState, log_worse: float, log_not_worse: float
    ) -> CheckResult:
        enough_traffic = self.state.canary_requests >= self.config.min_canary_requests
        decision = _metric_decision(metric_state, enough_traffic)
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
        promotion = self.config.promotion_tolerance(result.metric).describe()
        return (
            f"{label}: canary {_share_text(result.canary_events, result.canary_requests)}"
            f" vs primary {_share_text(result.primary_events, result.primary_requests)};"
            f" evidence canary worse than {tolerance}: {_evidence_text(result.worse_evidence)}"
            f" (fail at {self.config.fail_threshold:g} = {len(self.config.metrics)}/α),"
            f" within {promotion}: {_evidence_text(result.not_worse_evidence)}"
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


def _metric_decision(metric_state: MetricState, enough_traffic: bool) -> Decision:
    if metric_state.worse:
        return Decision.FAIL
    if metric_state.not_worse and enough_traffic:
        return Decision.PASS
    return Decision.CONTINUE


def _overall(checks: tuple[CheckResult, ...]) -> Decision:
    if any(check.decision is Decision.FAIL for check in checks):
        return Decision.FAIL
    if all(check.decision is Decision.PASS for check in checks):
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
