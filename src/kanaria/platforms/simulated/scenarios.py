"""The benchmark's scenarios: the simulator's catalogue at a realistic base error rate.

The catalogue (`analysis/simulation.py`) gives both versions a 1 % base error rate. That sits
exactly on the seed's `request-success-rate >= 99` threshold, so half of Flagger's intervals
would fail on an identical canary and the comparison would be about a misconfigured threshold,
not about judges. The benchmark moves the base to 0.1 % (a service well inside its error
budget) and keeps each scenario's difference in percentage points: "errors +2 pp" is 0.1 %
against 2.1 %.
"""

from __future__ import annotations

import re
from dataclasses import replace

from kanaria.analysis.simulation import SCENARIOS, Behaviour, Scenario
from kanaria.errors import ConfigError

BASE_ERROR_RATE = 0.001

GOOD = tuple(name for name, scenario in SCENARIOS.items() if not scenario.canary_is_worse)
BAD = tuple(name for name, scenario in SCENARIOS.items() if scenario.canary_is_worse)


def rebased(scenario: Scenario, base_error_rate: float = BASE_ERROR_RATE) -> Scenario:
    """The scenario with the primary at `base_error_rate`, the canary keeping its difference."""
    catalogue_base = scenario.primary.error_rate

    def moved(behaviour: Behaviour) -> Behaviour:
        shifted = behaviour.error_rate - catalogue_base + base_error_rate
        return replace(behaviour, error_rate=min(1.0, max(0.0, shifted)))

    return replace(scenario, primary=moved(scenario.primary), canary=moved(scenario.canary))


def slug(name: str) -> str:
    """A name usable unquoted on a command line: `errors +10 pp` → `errors-+10-pp`."""
    return re.sub(r"[^a-z0-9+.]+", "-", name.lower()).strip("-")


def benchmark_scenarios(names: list[str] | None = None) -> list[Scenario]:
    """The chosen scenarios (all by default, good ones first), by name or slug."""
    known = {slug(name): name for name in GOOD + BAD}
    chosen = list(GOOD + BAD) if not names else [_known_name(name, known) for name in names]
    return [rebased(SCENARIOS[name]) for name in chosen]


def _known_name(name: str, known: dict[str, str]) -> str:
    try:
        return known[slug(name)]
    except KeyError:
        listed = ", ".join(sorted(known))
        raise ConfigError(f"unknown scenario {name!r}; known scenarios: {listed}") from None
