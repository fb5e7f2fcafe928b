"""The sequential judge in a release: looks between ticks, state kept in the status.

The judge (`analysis/sequential.py`) compares the canary with the primary on the same traffic
and stays valid however often it is asked, so the engine asks it every `judge.lookInterval`,
not only once per analysis interval: a bad canary is rolled back as soon as the counts show it,
without waiting for `threshold` failed intervals. With `earlyPromotion`, a canary the judge has
shown to be within the promotion tolerance, after `minExposure` of traffic, is promoted without
waiting for the rest of the schedule. Absolute thresholds in `metrics` still apply at each tick.
The judge's numbers live in `status.judge`, so a restarted controller goes on with the evidence
gathered so far.
"""

from __future__ import annotations

import logging
from typing import Any

from kanaria.analysis.judge_state import JudgeState
from kanaria.analysis.sequential import (
    Decision,
    SequentialConfig,
    SequentialJudge,
    Tolerance,
    Verdict,
)
from kanaria.engine import messages, phases, strategies
from kanaria.engine.release import Release
from kanaria.errors import ConfigError, KanariaError
from kanaria.spec.canary import EarlyPromotion, Judge, Phase, ToleranceSpec

log = logging.getLogger(__name__)

# Kept in `status.judge` beside the judge's own state: when the canary first had traffic, on the
# platform's clock, in seconds since the epoch (for `earlyPromotion.minExposure`).
STARTED_AT = "startedAt"


def judge_config(spec: Judge) -> SequentialConfig:
    promotion = spec.early_promotion or EarlyPromotion()
    return SequentialConfig(
        alpha=spec.alpha,
        errors=_tolerance(spec.error_tolerance),
        latency=_tolerance(spec.latency_tolerance),
        latency_bound_ms=None if spec.latency_bound is None else spec.latency_bound * 1000,
        min_canary_requests=spec.min_canary_requests,
        promotion_errors=_tolerance(promotion.error_tolerance),
        promotion_latency=_tolerance(promotion.latency_tolerance),
    )


def _tolerance(spec: ToleranceSpec) -> Tolerance:
    return Tolerance(spec.relative, spec.absolute)


async def look(release: Release) -> bool:
    """One look: read the counts, update the evidence, act on a verdict. True when the judge
    acted (rolled back, or promoted early)."""
    spec = release.spec.analysis.judge
    if spec is None or release.phase is not Phase.PROGRESSING:
        return False
    config = judge_config(spec)
    try:
        primary, canary = await release.world.observer.counts(
            release.canary, (spec.latency_bound or 0.5)
        )
    except KanariaError as exc:
        log.info("%s: no judgement this look: %s", release.key, exc)
        return False
    restored = _restore(release, config)
    if restored is None:
        judge = SequentialJudge(config)
        judge.start_from(primary, canary)
        await _save(release, judge, _now(release))
        return False
    judge, started_at = restored
    verdict = judge.observe(primary, canary)
    await _save(release, judge, started_at)
    return await _act(release, spec, verdict, _now(release) - started_at)


async def _act(release: Release, spec: Judge, verdict: Verdict, exposure_seconds: float) -> bool:
    if verdict.decision is Decision.FAIL:
        await phases.rollback(release, messages.judge_rollback(release.key, verdict.explanation))
        return True
    early = spec.early_promotion
    if (
        verdict.decision is Decision.PASS
        and early is not None
        and exposure_seconds >= early.min_exposure
    ):
        await release.event(messages.judge_passed(release.key, verdict.explanation))
        await strategies.promote_when_confirmed(release)
        return True
    return False


def _now(release: Release) -> float:
    return release.world.clock.now().timestamp()


async def _save(release: Release, judge: SequentialJudge, started_at: float) -> None:
    flat: dict[str, Any] = dict(judge.state.to_dict())
    flat[STARTED_AT] = started_at
    await release.set_status(judge=flat)


def _restore(release: Release, config: SequentialConfig) -> tuple[SequentialJudge, float] | None:
    flat = release.status.judge
    if not flat:
        return None
    try:
        judge = SequentialJudge(config, JudgeState.from_dict(flat, config.metrics))
        started_at = flat.get(STARTED_AT)
        if isinstance(started_at, bool) or not isinstance(started_at, int | float):
            raise ConfigError(f"sequential judge state: {STARTED_AT}: expected a number")
    except ConfigError as exc:
        log.warning("%s: judge state unreadable, starting over: %s", release.key, exc)
        return None
    return judge, float(started_at)
