"""The analysis of one interval: rollout webhooks, then each metric against its threshold.

A tick's analysis fails at the first failed check, as Flagger's does; each measured value is
kept in the status (`status.checks`) so users see why a release advanced or halted. What a
metric does without data is its `onNoData` choice (Flagger: count a failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kanaria.analysis.thresholds import bounds_of, judge, unit_of
from kanaria.engine import messages
from kanaria.engine.release import Release
from kanaria.errors import KanariaError
from kanaria.providers.base import NoValuesError, ProviderUnavailableError
from kanaria.spec.canary import CheckResult, HookType, Metric, NoDataPolicy


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"  # counts a failed check
    HELD = "held"  # do not advance, do not count (or the judge already acted)


@dataclass(frozen=True)
class MetricOutcome:
    outcome: Outcome
    result: CheckResult


async def run_analysis(release: Release) -> Outcome:
    """Rollout hooks, then metrics; the first failure decides."""
    gate = await release.run_gate(HookType.ROLLOUT)
    if not gate.passed and gate.hook is not None:
        await release.warn(messages.rollout_hook_failed(release.key, gate.hook.name, gate.error))
        return Outcome.FAILED
    results: list[CheckResult] = []
    outcome = Outcome.PASSED
    for metric in release.spec.analysis.metrics:
        measured = await check_metric(release, metric)
        results.append(measured.result)
        if measured.outcome is not Outcome.PASSED:
            outcome = measured.outcome
            break
    await release.set_status(checks=_merge(release.status.checks, results))
    return outcome


async def check_metric(release: Release, metric: Metric) -> MetricOutcome:
    bounds = bounds_of(metric)
    result = CheckResult(name=metric.name, threshold=bounds.describe(), time=release.now())
    try:
        value = await release.world.observer.measure(release.canary, metric)
    except NoValuesError as exc:
        return await _no_values(release, metric, result, exc)
    except ProviderUnavailableError as exc:
        await release.warn(messages.provider_unavailable(exc))
        return _failed(result, "error", f"metrics provider unavailable: {exc}")
    except KanariaError as exc:
        await release.warn(messages.query_failed(metric.name, exc))
        return _failed(result, "error", str(exc))
    if release.world.recorder:
        release.world.recorder.metric_value(release.canary, metric.name, value)
    return await _compare(release, metric, result, value)


async def _compare(
    release: Release, metric: Metric, result: CheckResult, value: float
) -> MetricOutcome:
    verdict = judge(metric, value)
    result = result.model_copy(update={"value": value})
    if verdict.passed or verdict.bound is None:
        return MetricOutcome(Outcome.PASSED, result.model_copy(update={"verdict": "pass"}))
    describe = messages.metric_below if verdict.below else messages.metric_above
    message = describe(release.key, metric.name, value, verdict.bound, unit_of(metric))
    await release.warn(message)
    return _failed(result, "fail", message)


async def _no_values(
    release: Release, metric: Metric, result: CheckResult, error: Exception
) -> MetricOutcome:
    provider = release.spec.provider or "prometheus"
    message = messages.no_values(provider, metric.name, release.target_key, error)
    if metric.on_no_data is NoDataPolicy.PASS:
        return MetricOutcome(Outcome.PASSED, result.model_copy(update={"verdict": "no-data"}))
    await release.warn(message)
    updated = result.model_copy(update={"verdict": "no-data", "message": message})
    if metric.on_no_data is NoDataPolicy.HOLD:
        return MetricOutcome(Outcome.HELD, updated)
    return MetricOutcome(Outcome.FAILED, updated)


def _failed(result: CheckResult, verdict: str, message: str) -> MetricOutcome:
    return MetricOutcome(
        Outcome.FAILED, result.model_copy(update={"verdict": verdict, "message": message})
    )


def _merge(previous: list[CheckResult], latest: list[CheckResult]) -> list[CheckResult]:
    """Latest result per check name, keeping checks not measured this tick."""
    by_name = {result.name: result for result in previous}
    by_name.update({result.name: result for result in latest})
    return list(by_name.values())
