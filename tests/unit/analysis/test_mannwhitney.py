"""The Kayenta-style baseline: a sound rank-sum interval, and Kayenta's classification rules."""

from __future__ import annotations

import random

import pytest

from kanaria.analysis.mannwhitney import (
    Classification,
    MannWhitneyConfig,
    average_ranks,
    classify,
    judge_interval,
    shift_interval,
)
from kanaria.analysis.sequential import Decision


def test_ties_share_their_average_rank() -> None:
    assert average_ranks([10.0, 20.0, 10.0, 30.0]) == ([1.5, 3.0, 1.5, 4.0], [2, 1, 1])


def test_the_shift_estimate_and_interval_find_a_known_shift() -> None:
    rng = random.Random(1)
    control = [rng.gauss(100.0, 10.0) for _ in range(60)]
    experiment = [rng.gauss(120.0, 10.0) for _ in range(60)]
    interval = shift_interval(experiment, control, 0.98)
    assert interval.lower < 20.0 < interval.upper
    assert 15.0 < interval.estimate < 25.0
    assert interval.lower < interval.estimate < interval.upper


def test_a_clear_increase_is_high_and_fails_the_interval() -> None:
    rng = random.Random(2)
    control = [rng.gauss(100.0, 10.0) for _ in range(60)]
    experiment = [rng.gauss(150.0, 10.0) for _ in range(60)]
    config = MannWhitneyConfig()
    assert classify(experiment, control, config) is Classification.HIGH
    assert classify(control, experiment, config) is Classification.LOW
    judgement = judge_interval({"latency": (experiment, control), "errors": (control, control)})
    assert judgement.decision is Decision.FAIL
    assert judgement.score == 50.0


def test_identical_distributions_are_rarely_high() -> None:
    rng = random.Random(3)
    config = MannWhitneyConfig()
    highs = 0
    for _ in range(300):
        control = [rng.gauss(100.0, 10.0) for _ in range(60)]
        experiment = [rng.gauss(100.0, 10.0) for _ in range(60)]
        highs += classify(experiment, control, config) is Classification.HIGH
    # One side of a 98 % interval: about 1 % per interval.
    assert highs / 300 < 0.04


@pytest.mark.parametrize(
    ("canary", "control", "expected"),
    [
        ([], [1.0], Classification.NODATA),
        ([1.0, 2.0], [2.0, 1.0], Classification.PASS),
    ],
)
def test_kayenta_shortcuts(
    canary: list[float], control: list[float], expected: Classification
) -> None:
    assert classify(canary, control, MannWhitneyConfig()) is expected


def test_half_the_metrics_without_data_scores_zero() -> None:
    judgement = judge_interval({"errors": ([], [0.0]), "latency": ([1.0], [1.0])})
    assert judgement.score == 0.0
    assert judgement.decision is Decision.FAIL
