"""E-values: evidence that stays valid however often it is looked at.

An e-process is a running number that, while the null hypothesis holds, has expectation at most
one at every look, whatever the looks and the traffic split. Ville's inequality then bounds the
chance that it *ever* reaches 1/α by α, so a judge may look every second or every minute and stop
at the first crossing without inflating its false-alarm rate. This module holds the two kinds
the sequential judge needs, in plain floats and `math`, no I/O:

- *share* evidence: given the events (errors or slow requests) of both versions, each one falls
  on the canary with a known null probability (its share of requests, tilted by the tolerance).
  Two running sums summarise every look, so the judge's saved state stays small.
- *rate* evidence: the canary's own event rate against a fixed bound, from its two totals.

Both mix a fixed grid of alternatives with equal weights; a mixture of e-processes built on the
same data is an e-process, and a grid fixed in advance keeps the mixture exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

# Tilts λ of the share alternatives: the canary's event odds are e^λ times the null's. From a
# 3 % excess (hard to see on any traffic) to e^6 ≈ 400 times (a canary failing where the primary
# never does). Log-spaced, so each order of magnitude of effect gets the same prior weight.
SHARE_TILTS: tuple[float, ...] = tuple(0.03 * (6.0 / 0.03) ** (i / 47) for i in range(48))

# How many alternatives the rate evidence mixes, spread log-uniformly on its side of the bound.
RATE_GRID_SIZE = 48
# The rate alternatives below a bound reach down to bound/1000: a canary ten times better than
# the bound needs no finer resolution to be told apart from it.
RATE_BELOW_SPAN = 1000.0
# The rate alternatives above a bound stop short of 1: a rate of exactly one is not a distribution
# an e-value can use once a single good request has been seen.
RATE_CEILING = 0.999


def log_mean_exp(log_terms: Iterable[float]) -> float:
    """log(mean(exp(t))) without overflow: e-values grow far beyond what a float can hold."""
    terms = list(log_terms)
    peak = max(terms)
    if peak == -math.inf:
        return -math.inf
    return peak + math.log(sum(math.exp(t - peak) for t in terms) / len(terms))


def null_share(canary_requests: int, primary_requests: int, ratio: float) -> float:
    """Chance that one event falls on the canary when its event rate is `ratio` times the primary's.

    With request counts n_c, n_p and event rates ρ·r and r, the events are Poisson with means
    ρ·r·n_c and r·n_p, so given their total each is the canary's with ρ·n_c / (ρ·n_c + n_p):
    the unknown base rate r cancels, which is why the test needs no estimate of it.
    """
    weighted_canary = ratio * canary_requests
    return weighted_canary / (weighted_canary + primary_requests)


def bennett_cumulant(tilt: float) -> float:
    """ψ(λ) = e^λ − 1 − λ: bounds the log-moment of a centred Bernoulli per unit of its variance.

    Bennett's lemma: if Y ≤ 1 has mean 0 and variance v, then E[exp(λY)] ≤ exp(v·ψ(λ)) for λ ≥ 0.
    One bound for every share is what lets the evidence live in two running sums.
    """
    return math.expm1(tilt) - tilt


_TILTS_AND_CUMULANTS = tuple((tilt, bennett_cumulant(tilt)) for tilt in SHARE_TILTS)


@dataclass(frozen=True)
class ShareSums:
    """The two running sums that the share evidence needs.

    `excess` = Σ (x_k − m_k·p_k): canary events beyond their null expectation;
    `variance` = Σ m_k·p_k·(1 − p_k): the null variance of that excess;
    over looks k with m_k events in all, x_k of them the canary's, null share p_k.
    """

    excess: float = 0.0
    variance: float = 0.0

    def add(self, canary_events: int, total_events: int, share: float) -> ShareSums:
        return ShareSums(
            excess=self.excess + canary_events - total_events * share,
            variance=self.variance + total_events * share * (1.0 - share),
        )


def log_share_evidence(sums: ShareSums, *, canary_worse: bool) -> float:
    """Log e-value that events fall on the canary more (or less) often than their null share.

    For each tilt λ, exp(±λ·excess − ψ(λ)·variance) is a test supermartingale: each look
    multiplies it by a factor whose conditional expectation is at most one (Bennett, applied to
    each event's Bernoulli indicator, which is ≤ 1 after centring, in either direction).
    """
    excess = sums.excess if canary_worse else -sums.excess
    return log_mean_exp(
        tilt * excess - cumulant * sums.variance for tilt, cumulant in _TILTS_AND_CUMULANTS
    )


@dataclass(frozen=True)
class RateEvidence:
    """Evidence that the canary's event rate lies above (or below) a fixed `bound`.

    The likelihood ratio of `events` in `trials` Bernoulli draws, an alternative rate against the
    bound, depends only on the two totals, so this evidence needs no state of its own. By monotone
    likelihood ratio each request's factor has expectation at most one for every true rate on the
    null side of the bound, not only at the bound.
    """

    bound: float
    above: bool
    alternatives: tuple[float, ...] = field(init=False)
    # Per alternative: log ratio of one event, and of one request without an event.
    _log_ratios: tuple[tuple[float, float], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternatives", self._grid())
        log_ratios = tuple(
            (
                math.log(alternative) - math.log(self.bound),
                math.log1p(-alternative) - math.log1p(-self.bound),
            )
            for alternative in self.alternatives
        )
        object.__setattr__(self, "_log_ratios", log_ratios)

    def _grid(self) -> tuple[float, ...]:
        # Open at the bound itself, since an alternative equal to the null carries no evidence.
        if not 0.0 < self.bound < RATE_CEILING:
            return ()
        far_end = RATE_CEILING if self.above else self.bound / RATE_BELOW_SPAN
        return tuple(
            self.bound * (far_end / self.bound) ** ((i + 1) / RATE_GRID_SIZE)
            for i in range(RATE_GRID_SIZE)
        )

    def log_evidence(self, events: int, trials: int) -> float:
        if self.bound == 0.0:
            # Under a null rate of zero a single event is impossible: certain evidence.
            return math.inf if events and self.above else 0.0
        if not self.alternatives:
            return 0.0
        quiet = trials - events
        return log_mean_exp(
            events * event + quiet * no_event for event, no_event in self._log_ratios
        )
