"""A Kayenta-style judge, the baseline the sequential judge is measured against.

Kayenta (Netflix ACA, `reference/peers.md` §2.1) compares per-second samples of canary and
control within one interval by a Wilcoxon rank-sum test. It estimates the shift with its
confidence interval, calls a metric High when even the interval's low end exceeds a fraction of
the estimated shift, and fails the canary at the first interval whose score falls below
"marginal". Each interval is a fresh fixed-sample test, so looking at more intervals raises its
false alarms: that is what the decision-quality benchmark sets out to show. This is a
re-implementation from the description (normal approximation with tie and continuity
corrections, roots by binary search), not a port.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kanaria.analysis.sequential import Decision


class Classification(StrEnum):
    HIGH = "High"
    LOW = "Low"
    PASS = "Pass"
    NODATA = "Nodata"


@dataclass(frozen=True)
class ShiftInterval:
    """Hodges–Lehmann-style shift of experiment over control, with its confidence interval."""

    lower: float
    upper: float
    estimate: float


@dataclass(frozen=True)
class MannWhitneyConfig:
    tolerance: float = 0.25  # Kayenta's default fraction of the estimate
    confidence: float = 0.98
    # Mean ratio (canary / control) a High must also reach; 1.0 means any significant shift.
    allowed_increase: float = 1.0
    allowed_decrease: float = 1.0
    marginal_score: float = 75.0  # an interval scoring below this fails the canary


@dataclass(frozen=True)
class IntervalJudgement:
    decision: Decision  # FAIL or CONTINUE: one interval never proves a canary good
    score: float
    classifications: Mapping[str, Classification]


def average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks from 1, ties sharing their average rank; and the size of each group of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks, tie_sizes = [0.0] * len(values), []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2.0 + 1.0
        tie_sizes.append(end - start + 1)
        start = end + 1
    return ranks, tie_sizes


def standardised_rank_sum(
    experiment: Sequence[float], control: Sequence[float], shift: float
) -> float:
    """The rank-sum z statistic of experiment − shift against control, corrected for ties."""
    n_x, n_y = len(experiment), len(control)
    ranks, tie_sizes = average_ranks([x - shift for x in experiment] + list(control))
    centred = sum(ranks[:n_x]) - n_x * (n_x + 1) / 2.0 - n_x * n_y / 2.0
    total = n_x + n_y
    ties = sum(size**3 - size for size in tie_sizes) / (total * (total - 1))
    variance = n_x * n_y / 12.0 * ((total + 1) - ties)
    if variance <= 0.0:
        return 0.0
    continuity = math.copysign(0.5, centred) if centred else 0.0
    return (centred - continuity) / math.sqrt(variance)


def _first_at_or_below_zero(function: Callable[[float], float], candidates: list[float]) -> float:
    """The first of sorted `candidates` where a non-increasing function is <= 0 (else the last).

    The rank statistic only changes where a shifted canary sample meets a control sample, so
    its crossings lie on the pairwise differences: a binary search over them finds the root.
    """
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        if function(candidates[middle]) <= 0.0:
            high = middle
        else:
            low = middle + 1
    return candidates[low]


def shift_interval(
    experiment: Sequence[float], control: Sequence[float], confidence: float
) -> ShiftInterval:
    """Solve z(shift) = +q, 0, −q for the interval's low end, the estimate and the high end."""
    quantile = statistics.NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    differences = sorted(x - y for x in experiment for y in control)

    def crossing(target: float) -> float:
        return _first_at_or_below_zero(
            lambda shift: standardised_rank_sum(experiment, control, shift) - target, differences
        )

    return ShiftInterval(crossing(quantile), crossing(-quantile), crossing(0.0))


def classify(
    experiment: Sequence[float], control: Sequence[float], config: MannWhitneyConfig
) -> Classification:
    """Kayenta's metric classification for a metric where higher is worse or better."""
    if not experiment or not control:
        return Classification.NODATA
    if sorted(experiment) == sorted(control):
        return Classification.PASS
    interval = shift_interval(experiment, control, config.confidence)
    bound = config.tolerance * abs(interval.estimate)
    ratio = _mean_ratio(experiment, control)
    # An undefined ratio (a zero control mean) skips the effect-size check, as in Kayenta.
    undefined = math.isnan(ratio)
    if interval.lower > bound and (undefined or ratio >= config.allowed_increase):
        return Classification.HIGH
    if interval.upper < -bound and (undefined or ratio <= config.allowed_decrease):
        return Classification.LOW
    return Classification.PASS


def _mean_ratio(experiment: Sequence[float], control: Sequence[float]) -> float:
    control_mean = statistics.fmean(control)
    return statistics.fmean(experiment) / control_mean if control_mean else math.nan


def judge_interval(
    samples: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    config: MannWhitneyConfig | None = None,
) -> IntervalJudgement:
    """Score one interval: `samples` maps a metric (higher is worse) to (canary, control).

    Score = 100 × Pass / classified metrics, Nodata left out, and 0 if half of the metrics or
    more have no data (Kayenta's override); below `marginal_score` the canary fails.
    """
    config = config or MannWhitneyConfig()
    classifications = {
        metric: classify(canary, control, config) for metric, (canary, control) in samples.items()
    }
    score = _score(list(classifications.values()))
    decision = Decision.FAIL if score < config.marginal_score else Decision.CONTINUE
    return IntervalJudgement(decision, score, classifications)


def _score(classifications: list[Classification]) -> float:
    no_data = classifications.count(Classification.NODATA)
    if not classifications or 2 * no_data >= len(classifications):
        return 0.0
    # Only High counts against the canary: for these metrics lower is better, so Low passes.
    bad = classifications.count(Classification.HIGH)
    return 100.0 * (len(classifications) - no_data - bad) / (len(classifications) - no_data)
