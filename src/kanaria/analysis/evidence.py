"""E-values: evidence that stays valid however often it is looked at, whatever the traffic does.

A test supermartingale is a running product of factors, each with expectation at most one given
the past while the null hypothesis holds. Ville's inequality bounds the chance that it *ever*
reaches 1/α by α, so a judge may look after every scrape and stop at the first crossing without
inflating its false alarms. The factors here are computed from one look's counts only (requests
and events of both versions since the previous look), so the null may hold differently in every
look: the primary's error rate may step, drift or cycle, and the guarantee still holds as long as
the canary is within tolerance of the primary in each look. `docs/analysis.md` has the proofs.

Per look and per alternative (a tilt λ of a fixed grid), in logarithms:

- *share* factor: given the events of both versions, each one is the canary's with at most the
  null share p = ρ·n_c / (ρ·n_c + n_p); the exact binomial tilt exp(λ·x − m·log(1 + p·(e^λ − 1)))
  rewards events that fall on the canary beyond that share. The primary's own rate cancels.
- *floor* factor: the canary's events against the absolute floor a, from the canary's counts
  alone: exp(β·x − n_c·a·(e^β − 1)).
- The canary is tolerated if either holds, so a look's factor for "worse" is the *smaller* of the
  two; for "not worse" (the canary within a wider promotion tolerance) one side suffices, and a
  predictable choice of the side keeps the factor valid.

The judge keeps, per alternative, the running sum of these log factors, and averages over the grid:
a mixture of test supermartingales with fixed weights is one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def _log_grid(low: float, high: float, size: int) -> tuple[float, ...]:
    return tuple(low * (high / low) ** (i / (size - 1)) for i in range(size))


# Tilts λ of the "worse" alternatives: the canary's events are e^λ times likelier (in odds) to be
# its own than the tolerance allows. From 20 % beyond tolerance, which only heavy traffic can show,
# to e^5 ≈ 150 times, a canary failing where the primary almost never does; log-spaced, so each
# order of magnitude of effect weighs the same. Sixteen keep the state small and lose little:
# between neighbours the growth rate differs by a few per cent.
FAIL_TILTS: tuple[float, ...] = _log_grid(0.18, 5.0, 16)

# Tilts μ of the "not worse" alternatives: the canary's rate is e^−μ times the promotion tolerance,
# from 10 % below it to 50 times below.
PASS_TILTS: tuple[float, ...] = _log_grid(0.1, 4.0, 16)


@dataclass(frozen=True)
class Look:
    """One metric's counts between two looks: requests and events of each version."""

    canary_requests: int
    canary_events: int
    primary_requests: int
    primary_events: int

    @property
    def empty(self) -> bool:
        return not (self.canary_requests or self.primary_requests)


def log_mean_exp(log_terms: Iterable[float]) -> float:
    """log(mean(exp(t))) without overflow: e-values grow far beyond what a float can hold."""
    terms = list(log_terms)
    peak = max(terms)
    if peak == -math.inf:
        return -math.inf
    if peak == math.inf:
        return math.inf
    return peak + math.log(sum(math.exp(t - peak) for t in terms) / len(terms))


def null_share(canary_requests: int, primary_requests: int, ratio: float) -> float:
    """Chance that one event is the canary's when its event rate is `ratio` times the primary's.

    With request counts n_c, n_p and event rates ρ·r and r, given the events, each one is the
    canary's with ρ·n_c / (ρ·n_c + n_p): the unknown base rate r cancels.
    """
    weighted_canary = ratio * canary_requests
    total = weighted_canary + primary_requests
    return weighted_canary / total if total else 0.0


def worse_log_factors(look: Look, ratio: float, floor: float) -> tuple[float, ...]:
    """Per tilt of FAIL_TILTS: the log factor of one look for "the canary is worse than tolerated".

    Tolerated is r_canary ≤ max(ratio · r_primary, floor). The share factor has expectation at
    most one when the relative part holds, the floor factor when the floor part holds; their
    minimum when either does, whichever it is in this look.
    """
    return tuple(
        min(share, below_floor)
        for share, below_floor in zip(
            worse_share_log_factors(look, ratio),
            worse_floor_log_factors(look, ratio, floor),
            strict=True,
        )
    )


def worse_share_log_factors(look: Look, ratio: float) -> tuple[float, ...]:
    """Per tilt: log factors for "r_canary > ratio · r_primary", from who got the events."""
    if look.empty:
        return (0.0,) * len(FAIL_TILTS)
    share = null_share(look.canary_requests, look.primary_requests, ratio)
    events = look.canary_events + look.primary_events
    return tuple(
        tilt * look.canary_events - events * math.log1p(share * math.expm1(tilt))
        for tilt in FAIL_TILTS
    )


def worse_floor_log_factors(look: Look, ratio: float, floor: float) -> tuple[float, ...]:
    """Per tilt: log factors for "r_canary > floor", from the canary's counts alone.

    The tilt β = λ − log(1 + p·(e^λ − 1)) is what the share factor puts on one canary event, so
    the two factors agree on events and their minimum costs only in looks where the primary had
    fewer events than the floor would give it.
    """
    if look.empty:
        return (0.0,) * len(FAIL_TILTS)
    share = null_share(look.canary_requests, look.primary_requests, ratio)
    factors = []
    for tilt in FAIL_TILTS:
        beta = tilt - math.log1p(share * math.expm1(tilt))
        factors.append(beta * look.canary_events - look.canary_requests * floor * math.expm1(beta))
    return tuple(factors)


def better_share_log_factors(look: Look, ratio: float) -> tuple[float, ...]:
    """Per tilt of PASS_TILTS: log factors for "r_canary < ratio · r_primary", from the share.

    Valid (expectation at most one) in any look where the canary's rate is at least `ratio`
    times the primary's: a canary event then counts against the claim by at least its share.
    """
    if look.empty:
        return (0.0,) * len(PASS_TILTS)
    share = null_share(look.canary_requests, look.primary_requests, ratio)
    events = look.canary_events + look.primary_events
    return tuple(
        -tilt * look.canary_events - events * math.log1p(share * math.expm1(-tilt))
        for tilt in PASS_TILTS
    )


def better_floor_log_factors(look: Look, floor: float) -> tuple[float, ...]:
    """Per tilt of PASS_TILTS: log factors for "r_canary < floor", from the canary's counts.

    The Poisson likelihood ratio of the rate floor·e^−μ against the floor; valid in any look
    where the canary's rate is at least the floor (Bernoulli requests included).
    """
    return tuple(
        -tilt * look.canary_events - look.canary_requests * floor * math.expm1(-tilt)
        for tilt in PASS_TILTS
    )


def added(wealth: Sequence[float], factors: Sequence[float]) -> tuple[float, ...]:
    """Running log wealth per tilt after one more look."""
    return tuple(w + f for w, f in zip(wealth, factors, strict=True))
