"""The benchmark's scenarios: the simulator's catalogue at a realistic base error rate, and the
traffic that changes over time.

The catalogue (`analysis/simulation.py`) gives both versions a 1 % base error rate. That sits
exactly on the seed's `request-success-rate >= 99` threshold, so half of Flagger's intervals
would fail on an identical canary and the comparison would be about a misconfigured threshold,
not about judges. The benchmark moves the base to 0.1 % (a service well inside its error
budget) and keeps each scenario's difference in percentage points: "errors +2 pp" is 0.1 %
against 2.1 %.

The scenarios added here are written at that base directly. Their canary is within tolerance
of the primary at every moment while the primary itself changes (a branch switch, a drift, a
daily cycle), or they are the catalogue's regressions at other traffic levels and a small
latency shift.
"""

from __future__ import annotations

import re
from dataclasses import replace

from kanaria.analysis.simulation import SCENARIOS, Behaviour, Cycle, Scenario, Switch
from kanaria.errors import ConfigError

BASE_ERROR_RATE = 0.001


BASE = Behaviour(BASE_ERROR_RATE)
# The moment the branch switch happens: between two of the judge's looks, three minutes in.
SWITCH_SECONDS = 185.0

EXTRA: tuple[Scenario, ...] = (
    Scenario(
        "high traffic 1000 rps",
        requests_per_second=1000.0,
        primary=BASE,
        canary=BASE,
    ),
    # The case: the primary has no errors and the canary 0.09 % (below the 0.1 % floor,
    # tolerated), then a shared dependency makes both fail 0.5 % of requests.
    Scenario(
        "branch switch",
        requests_per_second=1000.0,
        primary=Behaviour(0.0, switch=Switch(SWITCH_SECONDS, 0.005)),
        canary=Behaviour(0.0009, switch=Switch(SWITCH_SECONDS, 0.005)),
    ),
    # Both versions' error rate climbs from 0.1 % to 0.5 % over the six minutes of the schedule:
    # under the seed's 99 % success-rate check, so what rolls back is a judge, not the SLO.
    Scenario(
        "drift, both versions",
        primary=replace(BASE, drift_per_hour=0.04),
        canary=replace(BASE, drift_per_hour=0.04),
    ),
    # A day compressed into four minutes: traffic from 20 to 180 req/s, errors 0.01 % to 0.19 %.
    Scenario(
        "diurnal",
        primary=BASE,
        canary=BASE,
        cycle=Cycle(period_seconds=240.0, traffic_amplitude=0.8, error_amplitude=0.9),
    ),
    Scenario(
        "P99 +50 ms",
        primary=BASE,
        canary=replace(BASE, latency_shift_ms=50.0),
        canary_is_worse=True,
    ),
    Scenario(
        "errors +10 pp at 1 rps",
        requests_per_second=1.0,
        primary=BASE,
        canary=Behaviour(BASE_ERROR_RATE + 0.1),
        canary_is_worse=True,
    ),
    Scenario(
        "errors +2 pp at 1000 rps",
        requests_per_second=1000.0,
        primary=BASE,
        canary=Behaviour(BASE_ERROR_RATE + 0.02),
        canary_is_worse=True,
    ),
)


def rebased(scenario: Scenario, base_error_rate: float = BASE_ERROR_RATE) -> Scenario:
    """The scenario with the primary at `base_error_rate`, the canary keeping its difference."""
    catalogue_base = scenario.primary.error_rate

    def moved(behaviour: Behaviour) -> Behaviour:
        shifted = behaviour.error_rate - catalogue_base + base_error_rate
        return replace(behaviour, error_rate=min(1.0, max(0.0, shifted)))

    return replace(scenario, primary=moved(scenario.primary), canary=moved(scenario.canary))


def _catalogue() -> dict[str, Scenario]:
    every = [rebased(scenario) for scenario in SCENARIOS.values()] + list(EXTRA)
    good = [scenario for scenario in every if not scenario.canary_is_worse]
    bad = [scenario for scenario in every if scenario.canary_is_worse]
    return {scenario.name: scenario for scenario in good + bad}


BENCHMARK_SCENARIOS = _catalogue()
GOOD = tuple(name for name, s in BENCHMARK_SCENARIOS.items() if not s.canary_is_worse)
BAD = tuple(name for name, s in BENCHMARK_SCENARIOS.items() if s.canary_is_worse)


def slug(name: str) -> str:
    """A name usable unquoted on a command line: `errors +10 pp` → `errors-+10-pp`."""
    return re.sub(r"[^a-z0-9+.]+", "-", name.lower()).strip("-")


def benchmark_scenarios(names: list[str] | None = None) -> list[Scenario]:
    """The chosen scenarios (all by default, good ones first), by name or slug."""
    known = {slug(name): name for name in BENCHMARK_SCENARIOS}
    chosen = list(BENCHMARK_SCENARIOS) if not names else [_known_name(n, known) for n in names]
    return [BENCHMARK_SCENARIOS[name] for name in chosen]


def _known_name(name: str, known: dict[str, str]) -> str:
    try:
        return known[slug(name)]
    except KeyError:
        listed = ", ".join(sorted(known))
        raise ConfigError(f"unknown scenario {name!r}; known scenarios: {listed}") from None
