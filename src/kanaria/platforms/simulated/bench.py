"""The decision-quality benchmark: every policy on the same releases, many seeds, one table.

For each scenario and seed, `release.run_release` lets each policy (the seed's Flagger checks,
a Kayenta-style Mann-Whitney judge, kanaria's sequential judge) decide the same simulated
release through the real engine. This module runs the releases (on several processes when
asked: each release is seeded, so the result does not depend on how they are spread) and sums
them up per scenario and policy: for a bad canary how often it was rolled back and how many
failed or too-slow requests it served first (its blast radius); for a good one how often it
was wrongly rolled back and how long it took to promote.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kanaria.analysis.simulation import Scenario
from kanaria.platforms.simulated.policies import POLICIES, Policy
from kanaria.platforms.simulated.release import Outcome, ReleaseResult, run_release

Progress = Callable[[int, int], None]  # releases done, releases in all


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    seed: int
    policies: tuple[Policy, ...]


def run_job(job: Job) -> list[ReleaseResult]:
    """One scenario and seed under every policy (a function of its own, for worker processes)."""
    return asyncio.run(run_release(job.scenario, job.seed, job.policies))


def run_releases(
    scenarios: list[Scenario],
    seeds: int,
    policies: tuple[Policy, ...] = POLICIES,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[ReleaseResult]:
    """Every scenario × seed × policy, in a fixed order whatever the number of workers."""
    jobs = [Job(scenario, seed, policies) for scenario in scenarios for seed in range(seeds)]
    results: list[ReleaseResult] = []
    for done, batch in enumerate(_map(run_job, jobs, workers), start=1):
        results.extend(batch)
        if progress:
            progress(done, len(jobs))
    order = {scenario.name: index for index, scenario in enumerate(scenarios)}
    ranks = {policy.name: index for index, policy in enumerate(policies)}
    return sorted(results, key=lambda r: (order[r.scenario], r.seed, ranks[r.policy]))


def _map(
    function: Callable[[Job], list[ReleaseResult]], jobs: list[Job], workers: int
) -> Iterable[list[ReleaseResult]]:
    if workers <= 1:
        yield from map(function, jobs)
        return
    # spawn: workers start clean, with no event loop or state inherited from the caller.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(function, jobs, chunksize=2)


@dataclass(frozen=True)
class Summary:
    """One policy on one scenario, over all seeds."""

    scenario: str
    policy: str
    canary_is_worse: bool
    releases: int
    rolled_back: int
    undecided: int
    early_promotions: int
    rollback_rate: float  # detection rate for a bad canary, false rollbacks for a good one
    rollback_rate_upper: float  # 95 % upper confidence bound (Clopper-Pearson)
    blast_radius_median: float  # over all releases; a missed canary counts until promotion
    blast_radius_p90: float
    blast_radius_median_detected: float | None
    rollback_seconds_median: float | None
    promotion_seconds_median: float | None


def summarise(results: list[ReleaseResult], scenarios: list[Scenario]) -> list[Summary]:
    worse = {scenario.name: scenario.canary_is_worse for scenario in scenarios}
    groups: dict[tuple[str, str], list[ReleaseResult]] = {}
    for result in results:
        groups.setdefault((result.scenario, result.policy), []).append(result)
    return [_summary(group, worse[scenario]) for (scenario, _), group in groups.items()]


def _summary(group: list[ReleaseResult], canary_is_worse: bool) -> Summary:
    rolled = [r for r in group if r.outcome is Outcome.ROLLED_BACK]
    promoted = [r for r in group if r.outcome is Outcome.PROMOTED]
    blast = [r.blast_radius for r in group]
    return Summary(
        scenario=group[0].scenario,
        policy=group[0].policy,
        canary_is_worse=canary_is_worse,
        releases=len(group),
        rolled_back=len(rolled),
        undecided=sum(r.outcome is Outcome.UNDECIDED for r in group),
        early_promotions=sum(r.decided_by == "judge" for r in promoted),
        rollback_rate=len(rolled) / len(group),
        rollback_rate_upper=upper_bound(len(rolled), len(group)),
        blast_radius_median=statistics.median(blast),
        blast_radius_p90=quantile(blast, 0.9),
        blast_radius_median_detected=_median([r.blast_radius for r in rolled]),
        rollback_seconds_median=_median([r.seconds for r in rolled if r.seconds is not None]),
        promotion_seconds_median=_median([r.seconds for r in promoted if r.seconds is not None]),
    )


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def quantile(values: list[float], fraction: float) -> float:
    """The nearest-rank quantile: a value that was observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def upper_bound(successes: int, trials: int, confidence: float = 0.95) -> float:
    """Clopper-Pearson upper bound of a rate (two-sided level): how high it could plausibly be.

    0 false rollbacks in 200 releases still allows a rate of 1.8 %; the table says so.
    """
    if successes >= trials:
        return 1.0
    tail = (1.0 - confidence) / 2.0
    low, high = successes / trials, 1.0
    for _ in range(60):  # bisection: P(X <= successes | rate) falls as the rate grows
        middle = (low + high) / 2.0
        if _binomial_cdf(successes, trials, middle) > tail:
            low = middle
        else:
            high = middle
    return high


def _binomial_cdf(successes: int, trials: int, rate: float) -> float:
    # In logarithms: comb(n, k) · rate^k overflows a float from about a thousand trials.
    log_rate, log_rest = math.log(rate), math.log1p(-rate)
    log_total = math.lgamma(trials + 1)
    return sum(
        math.exp(
            log_total
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * log_rate
            + (trials - k) * log_rest
        )
        for k in range(successes + 1)
    )
