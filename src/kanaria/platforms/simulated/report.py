"""The benchmark's answer: the tables a person reads, the goals checked, and the JSON kept.

The goals are issue 6's, checked for each variant of the sequential judge against the seed's
Flagger policy: false rollbacks no more than Flagger's and at most 1 %; on every bad-canary
scenario a median blast radius at most a fifth of Flagger's and a detection rate at least
Flagger's; a good canary promoted no later than Flagger promotes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kanaria.analysis.simulation import Scenario
from kanaria.platforms.simulated.bench import Summary
from kanaria.platforms.simulated.policies import JUDGE, POLICIES, Policy
from kanaria.platforms.simulated.release import ReleaseResult
from kanaria.platforms.simulated.scenarios import BASE_ERROR_RATE
from kanaria.platforms.simulated.traffic import TOO_SLOW_MS

BASELINE = "flagger"
JUDGED = ("sequential", "sequential-early")
MAX_FALSE_ROLLBACKS = 0.01
MAX_BLAST_RATIO = 0.2

DEFINITIONS = {
    "base error rate": f"{100 * BASE_ERROR_RATE:g} % on the primary; a bad canary adds its points",
    "blast radius": (
        f"canary requests that failed (5xx) or took > {TOO_SLOW_MS:g} ms (the seed's P99 bound),"
        " each counted once, from the new revision until traffic returned to the primary; a bad"
        " canary that was promoted counts until its promotion (a lower bound: it then serves"
        " everyone)"
    ),
    "detection rate": "bad canaries rolled back",
    "false rollback rate": "good canaries rolled back (95 % upper confidence bound in brackets)",
    "time to promotion": "from the new revision to the spec copied to the primary",
    "ratio": "median blast radius of sequential / median blast radius of flagger",
}


SummaryIndex = dict[tuple[str, str], Summary]  # by (scenario, policy)


@dataclass(frozen=True)
class Goal:
    policy: str
    statement: str
    met: bool
    detail: str


def blast_ratio(by_key: SummaryIndex, scenario: str, policy: str) -> float | None:
    """Median blast radius of `policy` over Flagger's; None when Flagger's is 0."""
    judged = by_key[(scenario, policy)].blast_radius_median
    baseline = by_key[(scenario, BASELINE)].blast_radius_median
    if baseline == 0:
        return None if judged else 0.0
    return float(judged / baseline)


def check_goals(summaries: list[Summary]) -> list[Goal]:
    by_key = {(s.scenario, s.policy): s for s in summaries}
    policies = {s.policy for s in summaries}
    if BASELINE not in policies:
        return []
    goals: list[Goal] = []
    for policy in (p for p in JUDGED if p in policies):
        good = [s for s in summaries if s.policy == policy and not s.canary_is_worse]
        bad = [s for s in summaries if s.policy == policy and s.canary_is_worse]
        if good:
            goals += [_false_rollbacks(policy, good, by_key), _promotion_time(good, by_key)]
        if bad:
            goals += [_blast_radius(policy, bad, by_key), _detection(bad, by_key)]
    return goals


def _false_rollbacks(policy: str, good: list[Summary], by_key: SummaryIndex) -> Goal:
    judged = _pooled_rate(good)
    baseline = _pooled_rate([by_key[(s.scenario, BASELINE)] for s in good])
    met = judged <= baseline and judged <= MAX_FALSE_ROLLBACKS
    detail = f"{_percent(judged)} vs flagger {_percent(baseline)}, pooled over good scenarios"
    return Goal(policy, "false rollbacks <= flagger's and <= 1 %", met, detail)


def _promotion_time(good: list[Summary], by_key: SummaryIndex) -> Goal:
    late = []
    for summary in good:
        baseline = by_key[(summary.scenario, BASELINE)].promotion_seconds_median
        mine = summary.promotion_seconds_median
        if mine is None or (baseline is not None and mine > baseline):
            late.append(f"{summary.scenario} {_duration(mine)} vs {_duration(baseline)}")
    detail = "; ".join(late) or "every good scenario"
    return Goal(good[0].policy, "median time to promotion <= flagger's", not late, detail)


def _blast_radius(policy: str, bad: list[Summary], by_key: SummaryIndex) -> Goal:
    missed = []
    for summary in bad:
        ratio = blast_ratio(by_key, summary.scenario, policy)
        if ratio is None or ratio > MAX_BLAST_RATIO:
            missed.append(f"{summary.scenario} {_ratio(ratio)}")
    detail = "; ".join(missed) or "every bad scenario"
    return Goal(policy, "median blast radius <= 1/5 of flagger's", not missed, detail)


def _detection(bad: list[Summary], by_key: SummaryIndex) -> Goal:
    short = []
    for summary in bad:
        baseline = by_key[(summary.scenario, BASELINE)].rollback_rate
        if summary.rollback_rate < baseline:
            short.append(
                f"{summary.scenario} {_percent(summary.rollback_rate)} vs {_percent(baseline)}"
            )
    detail = "; ".join(short) or "every bad scenario"
    return Goal(bad[0].policy, "detection rate >= flagger's", not short, detail)


def _ratios(summaries: list[Summary], by_key: SummaryIndex) -> dict[str, dict[str, float | None]]:
    if BASELINE not in {s.policy for s in summaries}:
        return {}
    ratios: dict[str, dict[str, float | None]] = {}
    for summary in summaries:
        if summary.canary_is_worse and summary.policy in JUDGED:
            ratio = blast_ratio(by_key, summary.scenario, summary.policy)
            ratios.setdefault(summary.policy, {})[summary.scenario] = ratio
    return ratios


def _pooled_rate(summaries: list[Summary]) -> float:
    releases = sum(s.releases for s in summaries)
    return sum(s.rolled_back for s in summaries) / releases if releases else 0.0


# text


def render(summaries: list[Summary], seeds: int, wall_seconds: float | None = None) -> str:
    """The tables and the goals, as printed by `kanaria bench decisions`."""
    policies = [p for p in POLICIES if any(s.policy == p.name for s in summaries)]
    by_key = {(s.scenario, s.policy): s for s in summaries}
    bad = _scenarios(summaries, worse=True)
    good = _scenarios(summaries, worse=False)
    lines = [*_heading(seeds, wall_seconds), *_policy_lines(policies), ""]
    names = [p.name for p in policies]
    if bad:
        lines += _table("Bad canaries: detection rate", bad, names, by_key, _detection_cell)
        lines += _blast_table(bad, names, by_key)
        lines += _table(
            "Bad canaries: median time to rollback", bad, names, by_key, _rollback_time_cell
        )
    if good:
        lines += _table(
            "Good canaries: false rollback rate (95 % upper bound)",
            good,
            names,
            by_key,
            _false_rollback_cell,
        )
        lines += _table(
            "Good canaries: median time to promotion (early promotions)",
            good,
            names,
            by_key,
            _promotion_cell,
        )
    lines += _goal_lines(check_goals(summaries))
    return "\n".join(lines)


def _heading(seeds: int, wall_seconds: float | None) -> list[str]:
    timing = f", {wall_seconds:.0f} s wall time" if wall_seconds is not None else ""
    plural = "s" if seeds > 1 else ""
    return [
        f"kanaria bench decisions: {seeds} seed{plural} per scenario, the same for every"
        f" policy{timing}",
        f"  traffic: 100 requests/s unless the scenario says otherwise; primary error rate"
        f" {100 * BASE_ERROR_RATE:g} %, log-normal latency (median 60 ms, P99 about 240 ms)",
        "  schedule: the seed's (interval 1m, stepWeight 10, maxWeight 50): promotion at 6m00s",
        f"  blast radius: canary requests that failed or took > {TOO_SLOW_MS:g} ms until traffic"
        " left the canary (a bad canary that was promoted: until its promotion)",
        "policies:",
    ]


def _policy_lines(policies: list[Policy]) -> list[str]:
    return [f"  {policy.name:<17} {policy.description}" for policy in policies]


def _scenarios(summaries: list[Summary], worse: bool) -> list[str]:
    names = [s.scenario for s in summaries if s.canary_is_worse is worse]
    return list(dict.fromkeys(names))


Cell = Callable[[Summary], str]


def _table(
    title: str,
    scenarios: list[str],
    policies: list[str],
    by_key: SummaryIndex,
    cell: Cell,
    *,
    extra: tuple[str, Callable[[str], str]] | None = None,
) -> list[str]:
    header = f"{'scenario':<27}" + "".join(f"{name:>19}" for name in policies)
    if extra:
        header += f"  {extra[0]:>18}"
    rows = [title, header]
    for scenario in scenarios:
        row = f"{scenario:<27}" + "".join(
            f"{cell(by_key[(scenario, policy)]):>19}" for policy in policies
        )
        if extra:
            row += f"  {extra[1](scenario):>18}"
        rows.append(row)
    return [*rows, ""]


def _blast_table(scenarios: list[str], policies: list[str], by_key: SummaryIndex) -> list[str]:
    judged = next((p for p in JUDGED if p in policies), None)
    extra = None
    if judged and BASELINE in policies:
        extra = (
            f"{judged}/{BASELINE}",
            lambda scenario: _ratio(blast_ratio(by_key, scenario, judged)),
        )
    title = "Bad canaries: median blast radius (90th percentile)"
    return _table(title, scenarios, policies, by_key, _blast_cell, extra=extra)


def _detection_cell(summary: Summary) -> str:
    return _percent(summary.rollback_rate)


def _blast_cell(summary: Summary) -> str:
    return f"{summary.blast_radius_median:.0f} ({summary.blast_radius_p90:.0f})"


def _rollback_time_cell(summary: Summary) -> str:
    return _duration(summary.rollback_seconds_median)


def _false_rollback_cell(summary: Summary) -> str:
    return f"{_percent(summary.rollback_rate)} (≤{_percent(summary.rollback_rate_upper)})"


def _promotion_cell(summary: Summary) -> str:
    early = f" ({summary.early_promotions})" if summary.early_promotions else ""
    return _duration(summary.promotion_seconds_median) + early


def _goal_lines(goals: list[Goal]) -> list[str]:
    if not goals:
        return []
    lines = ["Goals (issue 6), against flagger:"]
    for goal in goals:
        verdict = "met" if goal.met else "MISSED"
        lines.append(f"  {goal.policy:<17} {goal.statement:<42} {verdict:<7} {goal.detail}")
    return lines


def _percent(rate: float) -> str:
    return f"{100.0 * rate:.1f} %"


def _ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


# JSON


def as_json(
    summaries: list[Summary],
    results: list[ReleaseResult],
    scenarios: list[Scenario],
    seeds: int,
    wall_seconds: float | None = None,
) -> dict[str, Any]:
    """Everything behind the table, down to each release, for later analysis."""
    by_key = {(s.scenario, s.policy): s for s in summaries}
    return {
        "benchmark": "decisions",
        "seeds": seeds,
        "wall_seconds": wall_seconds,
        "definitions": DEFINITIONS,
        "judge": JUDGE,
        "policies": {
            p.name: {"description": p.description, "analysis": p.analysis} for p in POLICIES
        },
        "scenarios": {s.name: dataclasses.asdict(s) for s in scenarios},
        "summaries": [dataclasses.asdict(s) for s in summaries],
        "blast_radius_ratios": _ratios(summaries, by_key),
        "goals": [dataclasses.asdict(goal) for goal in check_goals(summaries)],
        "releases": [dataclasses.asdict(result) for result in results],
    }
