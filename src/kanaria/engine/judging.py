"""The sequential judge in a release: looks between ticks, state kept in the status.

The judge (`analysis/sequential.py`) compares the canary with the primary on the same traffic
and stays valid however often it is asked, so the engine asks it every `judge.lookInterval`,
not only once per analysis interval: a bad canary is rolled back as soon as the counts show it,
without waiting for `threshold` failed intervals. Absolute thresholds in `metrics` still apply
at each tick. The judge's few numbers live in `status.judge`, so a restarted controller goes on
with the evidence gathered so far.
"""

from __future__ import annotations

import logging

from kanaria.analysis.judge_state import JudgeState
from kanaria.analysis.sequential import Decision, SequentialConfig, SequentialJudge, Tolerance
from kanaria.engine import messages, phases, strategies
from kanaria.engine.release import Release
from kanaria.errors import ConfigError, KanariaError
from kanaria.spec.canary import Judge, Phase

log = logging.getLogger(__name__)


def judge_config(spec: Judge) -> SequentialConfig:
    return SequentialConfig(
        alpha=spec.alpha,
        errors=Tolerance(spec.error_tolerance.relative, spec.error_tolerance.absolute),
        latency=Tolerance(spec.latency_tolerance.relative, spec.latency_tolerance.absolute),
        latency_bound_ms=None if spec.latency_bound is None else spec.latency_bound * 1000,
        min_canary_requests=spec.min_canary_requests,
    )


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
    judge = _restore(release, config)
    if judge is None:
        judge = SequentialJudge(config)
        judge.start_from(primary, canary)
        await release.set_status(judge=judge.state.to_dict())
        return False
    verdict = judge.observe(primary, canary)
    await release.set_status(judge=judge.state.to_dict())
    if verdict.decision is Decision.FAIL:
        await phases.rollback(release, messages.judge_rollback(release.key, verdict.explanation))
        return True
    if verdict.decision is Decision.PASS and spec.early_promotion:
        await release.event(messages.judge_passed(release.key, verdict.explanation))
        await strategies.promote_when_confirmed(release)
        return True
    return False


def _restore(release: Release, config: SequentialConfig) -> SequentialJudge | None:
    flat = release.status.judge
    if not flat:
        return None
    try:
        return SequentialJudge(config, JudgeState.from_dict(flat, config.metrics))
    except ConfigError as exc:
        log.warning("%s: judge state unreadable, starting over: %s", release.key, exc)
        return None
