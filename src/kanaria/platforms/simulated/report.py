"""The benchmark's answer: the tables a person reads, the goals checked, and the JSON kept.

The goals (issue 14, `goals.py`) are checked for each variant of the sequential judge against
the seed's Flagger policy; the text lists each kind of goal with the scenarios that missed it,
the JSON every goal with its id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kanaria.analysis.simulation import Scenario
from kanaria.platforms.simulated.bench import Summary
from kanaria.platforms.simulated.goals import (
    BASELINE,
    JUDGED,
    Goal,
    SummaryIndex,
    blast_ratio,
    check_goals,
)
from kanaria.platforms.simulated.policies import JUDGE, POLICIES, Policy
from kanaria.platforms.simulated.release import ReleaseResult
from kanaria.platforms.simulated.scenarios import BASE_ERROR_RATE
from kanaria.platforms.simulated.traffic import TOO_SLOW_MS

DEFINITIONS = {
    "base error rate": f"{100 * BASE_ERROR_RATE:g} % on the primary; a bad canary adds its points",
    "blast radius": (
        f"canary requests that failed (5xx) or took > {TOO_SLOW_MS:g} ms (the seed's P99 bound),"
        " each counted once, from the new revision until traffic returned to the primary; a bad"
        " canary that was promoted counts until its promotion, and one promoted before the"
        " schedule's end also counts all the traffic it then serves until that end"
    ),
    "detection rate": "bad canaries rolled back",
    "false rollback rate": "good canaries rolled back (95 % upper confidence bound in brackets)",
    "time to promotion": "from the new revision to the spec copied to the primary",
    "early promotions": "releases the judge promoted before the weight schedule ended",
    "ratio": "median blast radius of sequential / median blast radius of flagger",
}


def _ratios(summaries: list[Summary], by_key: SummaryIndex) -> dict[str, dict[str, float | None]]:
    if BASELINE not in {s.policy for s in summaries}:
        return {}
    ratios: dict[str, dict[str, float | None]] = {}
    for summary in summaries:
        if summary.canary_is_worse and summary.policy in JUDGED:
            ratio = blast_ratio(by_key, summary.scenario, summary.policy)
            ratios.setdefault(summary.policy, {})[summary.scenario] = ratio
    return ratios


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
        lines += _table(
            "Bad canaries: promoted early by the judge", bad, names, by_key, _early_cell
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
        " left the canary (a bad canary promoted early: until the schedule's end, at full traffic)",
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


def _early_cell(summary: Summary) -> str:
    return f"{summary.early_promotions} of {summary.releases}"


def _goal_lines(goals: list[Goal]) -> list[str]:
    """One line per kind of goal and policy: met everywhere, or where it was missed."""
    if not goals:
        return []
    groups: dict[tuple[str, str], list[Goal]] = {}
    for goal in goals:
        groups.setdefault((goal.policy, goal.statement), []).append(goal)
    missed_count = sum(not goal.met for goal in goals)
    lines = [f"Goals (issue 14), against flagger: {len(goals) - missed_count} of {len(goals)} met"]
    for (policy, statement), group in groups.items():
        missed = [goal for goal in group if not goal.met]
        if missed:
            where = "; ".join(f"{goal.scenario}: {goal.detail}" for goal in missed)
            verdict = f"MISSED in {len(missed)} of {len(group)}: {where}"
        else:
            verdict = f"met in all {len(group)}"
        lines.append(f"  {policy:<17} {statement:<48} {verdict}")
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
