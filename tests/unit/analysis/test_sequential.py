"""The sequential judge as the engine sees it: counts in, a verdict and its reasons out."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from kanaria.analysis.counts import Counts
from kanaria.analysis.judge_state import JudgeState
from kanaria.analysis.sequential import (
    Decision,
    SequentialConfig,
    SequentialJudge,
    Tolerance,
)
from kanaria.analysis.simulation import binomial
from kanaria.errors import ConfigError, PermanentError

ERRORS_ONLY = SequentialConfig(latency_bound_ms=None)


def test_no_traffic_yet_means_continue() -> None:
    verdict = SequentialJudge(SequentialConfig()).observe(Counts(0), Counts(0))
    assert verdict.decision is Decision.CONTINUE
    assert verdict.explanation.startswith("no canary traffic yet")


def test_a_clearly_worse_canary_fails_with_a_readable_reason() -> None:
    judge = SequentialJudge(SequentialConfig())
    verdict = judge.observe(Counts(10_800, errors=3), Counts(1_200, errors=14))
    assert verdict.decision is Decision.FAIL
    errors = verdict.checks[0]
    assert errors.metric == "errors"
    assert errors.decision is Decision.FAIL
    assert errors.worse_evidence >= SequentialConfig().fail_threshold
    assert "canary 14 of 1200 (1.17 %) vs primary 3 of 10800 (0.028 %)" in verdict.explanation
    assert "fail at 200 = 2/α" in verdict.explanation
    assert "within max(2 × primary, 0.50 %)" in verdict.explanation


def test_fail_is_final_even_if_the_canary_recovers() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    assert judge.observe(Counts(9_000, 9), Counts(1_000, 30)).decision is Decision.FAIL
    verdict = judge.observe(Counts(9_000_000, 9_000), Counts(1_000_000, 1_000))
    assert verdict.decision is Decision.FAIL


def test_an_identical_canary_passes_once_traffic_is_enough() -> None:
    judge = SequentialJudge(SequentialConfig())
    verdict = judge.observe(Counts(900_000, 9_000, 9_000), Counts(100_000, 1_000, 1_000))
    assert verdict.decision is Decision.PASS
    assert verdict.explanation.startswith("canary within tolerance after 100000 requests")


def test_no_pass_before_the_minimum_canary_requests() -> None:
    config = SequentialConfig(min_canary_requests=20_000, latency_bound_ms=None)
    judge = SequentialJudge(config)
    # 0 errors in 10 000 requests proves a rate below the 0.1 % floor, but the minimum holds.
    assert judge.observe(Counts(90_000), Counts(10_000)).decision is Decision.CONTINUE
    assert judge.observe(Counts(180_000), Counts(20_000)).decision is Decision.PASS


def test_a_primary_without_errors_does_not_make_one_canary_error_fatal() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    assert judge.observe(Counts(5_000), Counts(500, errors=1)).decision is Decision.CONTINUE
    # Errors well above the 0.1 % floor while the primary has none: that is a real regression.
    assert judge.observe(Counts(10_000), Counts(1_000, errors=12)).decision is Decision.FAIL


def test_canary_errors_below_the_absolute_floor_are_tolerated() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    verdict = judge.observe(Counts(9_000_000), Counts(1_000_000, errors=500))
    # Infinitely worse than the primary in relative terms, but 0.05 % < 0.1 %.
    assert verdict.checks[0].worse_evidence < 1.0
    assert verdict.decision is Decision.PASS


def test_slow_requests_are_judged_like_errors() -> None:
    judge = SequentialJudge(SequentialConfig())
    verdict = judge.observe(Counts(9_000, slow=90), Counts(1_000, slow=60))
    assert verdict.decision is Decision.FAIL
    assert [check.decision for check in verdict.checks] == [Decision.CONTINUE, Decision.FAIL]
    assert "requests over 500 ms: canary 60 of 1000 (6.00 %)" in verdict.explanation


def test_without_a_latency_bound_slow_counts_are_ignored() -> None:
    verdict = SequentialJudge(ERRORS_ONLY).observe(Counts(9_000, slow=0), Counts(1_000, slow=900))
    assert [check.metric for check in verdict.checks] == ["errors"]
    assert verdict.decision is Decision.CONTINUE


def test_counts_going_backwards_skip_the_look_and_start_again_from_there() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    judge.observe(Counts(900, 9), Counts(100, 1))
    verdict = judge.observe(Counts(500, 5), Counts(50, 0))
    assert "counts went backwards" in verdict.explanation
    assert judge.state.canary_requests == 100
    judge.observe(Counts(1_400, 14), Counts(150, 1))
    assert judge.state.canary_requests == 200


def test_more_events_than_requests_waits_and_merges_into_the_next_look() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    judge.observe(Counts(900, 0), Counts(100, 0))
    verdict = judge.observe(Counts(901, 5), Counts(100, 0))
    assert "waiting for the next one" in verdict.explanation
    assert judge.state.primary_requests == 900
    judge.observe(Counts(1_800, 5), Counts(200, 0))
    assert (judge.state.primary_requests, judge.state.metrics["errors"].primary_events) == (
        1_800,
        5,
    )


def test_a_restored_judge_decides_like_the_one_that_kept_running() -> None:
    looks = [(Counts(9_000 * k, 90 * k, 9 * k), Counts(1_000 * k, 14 * k, k)) for k in (1, 2, 3)]
    running = SequentialJudge(SequentialConfig())
    restored = SequentialJudge(SequentialConfig())
    for primary, canary in looks:
        expected = running.observe(primary, canary)
        actual = restored.observe(primary, canary)
        flat = restored.state.to_dict()
        restored = SequentialJudge(
            SequentialConfig(), JudgeState.from_dict(flat, ("errors", "latency"))
        )
        assert actual == expected


def test_state_is_flat_json_that_does_not_grow_with_the_analysis() -> None:
    judge = SequentialJudge(SequentialConfig())
    judge.observe(Counts(9_000, 90, 9), Counts(1_000, 14, 1))
    flat = judge.state.to_dict()
    size = len(json.dumps(flat))
    for k in range(2, 200):
        judge.observe(Counts(9_000 * k, 90 * k, 9 * k), Counts(1_000 * k, 14 * k, k))
    assert json.loads(json.dumps(judge.state.to_dict())) == judge.state.to_dict()
    assert len(judge.state.to_dict()) == len(flat) <= 20
    assert len(json.dumps(judge.state.to_dict())) < 2 * size


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({}, "missing key 'seenPrimary.requests'"),
        ({"seenPrimary.requests": "12"}, "seenPrimary.requests: expected a count, got '12'"),
        (
            {**SequentialJudge(ERRORS_ONLY).state.to_dict(), "errors.worseEvidence": [0.0, 1.0]},
            "errors.worseEvidence: expected a list of 16 numbers",
        ),
    ],
)
def test_a_damaged_state_is_a_config_error_naming_the_key(
    flat: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        JudgeState.from_dict(flat, ("errors",))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (lambda: SequentialConfig(alpha=0.0), "alpha"),
        (lambda: SequentialConfig(alpha=1.5), "alpha"),
        (lambda: SequentialConfig(errors=Tolerance(-0.1, 0.001)), "errors.relative"),
        (lambda: SequentialConfig(latency=Tolerance(0.2, 1.0)), "latency.absolute"),
        (lambda: SequentialConfig(latency_bound_ms=0.0), "latency_bound_ms"),
        (lambda: SequentialConfig(min_canary_requests=-1), "min_canary_requests"),
        (
            lambda: SequentialConfig(promotion_errors=Tolerance(0.2, 1.5)),
            "promotion_errors.absolute",
        ),
    ],
)
def test_bad_configuration_names_the_field(config: Callable[[], object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        config()


def test_negative_counts_are_refused() -> None:
    with pytest.raises(PermanentError):
        Counts(-1)


def test_start_from_takes_raw_counters_as_the_zero_point() -> None:
    judge = SequentialJudge(ERRORS_ONLY)
    # A primary that served a million requests before the analysis, some with errors.
    judge.start_from(Counts(1_000_000, 5_000), Counts(0))
    judge.observe(Counts(1_009_000, 5_009), Counts(1_000, 1))
    assert (judge.state.primary_requests, judge.state.canary_requests) == (9_000, 1_000)
    assert judge.state.metrics["errors"].primary_events == 9


def test_a_state_saved_for_other_metrics_is_refused() -> None:
    saved = SequentialJudge(ERRORS_ONLY).state
    with pytest.raises(ConfigError, match="restart the analysis"):
        SequentialJudge(SequentialConfig(), saved)


def test_a_primary_without_errors_then_a_shared_failure_is_not_a_rollback() -> None:
    # The branch switch at 1000 req/s, 10 % on the canary, a look every 10 s: for 30
    # minutes the primary has no errors and the canary 0.09 % (under the 0.1 % floor), then both
    # fail 0.5 % of requests. Kept apart, the relative evidence of the first half and the floor
    # evidence of the second would add up to a rollback; look by look, neither part is violated.
    rng = random.Random(8)
    rollbacks = 0
    for _ in range(20):
        judge = SequentialJudge(ERRORS_ONLY)
        primary, canary = Counts(0), Counts(0)
        for look in range(360):
            primary_rate, canary_rate = (0.0, 0.0009) if look < 180 else (0.005, 0.005)
            primary = Counts(
                primary.requests + 9_000, primary.errors + _errors(rng, 9_000, primary_rate)
            )
            canary = Counts(
                canary.requests + 1_000, canary.errors + _errors(rng, 1_000, canary_rate)
            )
            if judge.observe(primary, canary).decision is Decision.FAIL:
                rollbacks += 1
                break
    assert rollbacks == 0


def _errors(rng: random.Random, requests: int, rate: float) -> int:
    return binomial(rng, requests, rate)


def test_a_worse_canary_after_a_good_start_is_still_caught() -> None:
    # Evidence is kept look by look, so early good behaviour does not hide a later regression
    # for long: the fail factors of later looks multiply whatever came before.
    judge = SequentialJudge(ERRORS_ONLY)
    primary, canary = Counts(0), Counts(0)
    decisions = []
    for look in range(60):
        canary_errors = 1 if look < 30 else 10
        primary = Counts(primary.requests + 9_000, primary.errors + 9)
        canary = Counts(canary.requests + 1_000, canary.errors + canary_errors)
        decisions.append(judge.observe(primary, canary).decision)
    assert Decision.FAIL not in decisions[:30]
    assert decisions.index(Decision.FAIL) < 35


def test_pass_uses_the_promotion_tolerance_not_the_rollback_one() -> None:
    # 0.3 % errors against a primary at 0.1 %: worse than the rollback tolerance (0.12 %), within
    # the promotion tolerance (max(2 × 0.1 %, 0.5 %)) — never both at once.
    judge = SequentialJudge(ERRORS_ONLY)
    verdict = judge.observe(Counts(900_000, 900), Counts(100_000, 300))
    assert verdict.decision is Decision.FAIL
    assert verdict.checks[0].not_worse_evidence >= ERRORS_ONLY.pass_threshold
