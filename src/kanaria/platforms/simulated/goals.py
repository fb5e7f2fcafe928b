"""The goals the sequential judge must meet against the seed's Flagger policy (issue 14).

One goal per kind, judge variant and scenario, each with an id that stays the same from run to
run (`blast-radius/sequential/errors-+2-pp`), so a CI job or a person can follow one goal over
time; `kanaria bench decisions` exits 1 when any is missed.

- `false-rollbacks`: on a good canary, rollbacks at most α, by the 95 % upper confidence bound
  (Clopper-Pearson): with no false rollback at all, that takes at least 368 releases.
- `detection`: on a bad canary, rolled back at least as often as Flagger rolls it back.
- `blast-radius`: on a bad canary, a median blast radius at most a fifth of Flagger's, where
  Flagger's is at least 10 bad requests (below that, a fifth is less than two requests).
- `promotion-time`: a good canary promoted no later than Flagger promotes it; with early
  promotion, in at most half Flagger's median time.
- `bad-promotions`: with early promotion, a bad canary promoted early by the judge in at most
  α of releases, by the same upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanaria.analysis.sequential import SequentialConfig
from kanaria.platforms.simulated.bench import Summary, upper_bound
from kanaria.platforms.simulated.scenarios import slug

BASELINE = "flagger"
JUDGED = ("sequential", "sequential-early")
EARLY = "sequential-early"
ALPHA = SequentialConfig().alpha  # the judge's default, which the benchmark's policies keep
MAX_BLAST_RATIO = 0.2
BLAST_RADIUS_FROM = 10.0  # Flagger's median blast radius from which the ratio is a goal
PROMOTION_RATIO = {"sequential": 1.0, EARLY: 0.5}

SummaryIndex = dict[tuple[str, str], Summary]  # by (scenario, policy)


@dataclass(frozen=True)
class Goal:
    id: str
    kind: str
    policy: str
    scenario: str
    statement: str
    met: bool
    value: float | None  # what was measured, in the unit of `bound`
    bound: float | None
    detail: str


def blast_ratio(by_key: SummaryIndex, scenario: str, policy: str) -> float | None:
    """Median blast radius of `policy` over Flagger's; None when Flagger's is 0."""
    judged = by_key[(scenario, policy)].blast_radius_median
    baseline = by_key[(scenario, BASELINE)].blast_radius_median
    if baseline == 0:
        return None if judged else 0.0
    return float(judged / baseline)


def check_goals(summaries: list[Summary]) -> list[Goal]:
    """Every goal that applies to these summaries, in a fixed order."""
    by_key = {(s.scenario, s.policy): s for s in summaries}
    if BASELINE not in {s.policy for s in summaries}:
        return []
    goals: list[Goal] = []
    for summary in summaries:
        if summary.policy not in JUDGED:
            continue
        baseline = by_key[(summary.scenario, BASELINE)]
        if summary.canary_is_worse:
            goals += _bad_canary_goals(summary, baseline)
        else:
            goals += _good_canary_goals(summary, baseline)
    return goals


def _goal(
    kind: str,
    summary: Summary,
    statement: str,
    *,
    met: bool,
    value: float | None,
    bound: float | None,
    detail: str,
) -> Goal:
    return Goal(
        id=f"{kind}/{summary.policy}/{slug(summary.scenario)}",
        kind=kind,
        policy=summary.policy,
        scenario=summary.scenario,
        statement=statement,
        met=met,
        value=value,
        bound=bound,
        detail=detail,
    )


def _good_canary_goals(summary: Summary, baseline: Summary) -> list[Goal]:
    upper = summary.rollback_rate_upper
    goals = [
        _goal(
            "false-rollbacks",
            summary,
            f"false rollbacks <= α = {100 * ALPHA:g} % (95 % upper bound)",
            met=upper <= ALPHA,
            value=upper,
            bound=ALPHA,
            detail=f"{summary.rolled_back} of {summary.releases}, upper bound {_percent(upper)}",
        )
    ]
    allowed = PROMOTION_RATIO[summary.policy]
    mine, theirs = summary.promotion_seconds_median, baseline.promotion_seconds_median
    ratio = mine / theirs if mine is not None and theirs else None
    goals.append(
        _goal(
            "promotion-time",
            summary,
            f"median time to promotion <= {allowed:g} × flagger's",
            met=ratio is not None and ratio <= allowed,
            value=ratio,
            bound=allowed,
            detail=f"{_duration(mine)} vs {_duration(theirs)}",
        )
    )
    return goals


def _bad_canary_goals(summary: Summary, baseline: Summary) -> list[Goal]:
    goals = [
        _goal(
            "detection",
            summary,
            "detection rate >= flagger's",
            met=summary.rollback_rate >= baseline.rollback_rate,
            value=summary.rollback_rate,
            bound=baseline.rollback_rate,
            detail=f"{_percent(summary.rollback_rate)} vs {_percent(baseline.rollback_rate)}",
        )
    ]
    if baseline.blast_radius_median >= BLAST_RADIUS_FROM:
        ratio = summary.blast_radius_median / baseline.blast_radius_median
        goals.append(
            _goal(
                "blast-radius",
                summary,
                f"median blast radius <= {MAX_BLAST_RATIO:g} × flagger's",
                met=ratio <= MAX_BLAST_RATIO,
                value=ratio,
                bound=MAX_BLAST_RATIO,
                detail=f"{summary.blast_radius_median:.1f} vs"
                f" {baseline.blast_radius_median:.1f} bad requests",
            )
        )
    if summary.policy == EARLY:
        upper = upper_bound(summary.early_promotions, summary.releases)
        goals.append(
            _goal(
                "bad-promotions",
                summary,
                f"promoted early <= α = {100 * ALPHA:g} % (95 % upper bound)",
                met=upper <= ALPHA,
                value=upper,
                bound=ALPHA,
                detail=f"{summary.early_promotions} of {summary.releases},"
                f" upper bound {_percent(upper)}",
            )
        )
    return goals


def _percent(rate: float) -> str:
    return f"{100.0 * rate:.1f} %"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
