"""Simulated traffic for judging the judges: counts as Prometheus would report them.

A judge is only as good as its false alarms and its delays on traffic whose truth is known, and
no real cluster can be told "this canary is exactly 2 points worse". Pure Python and seeded, so
the tests and the benchmark get the same numbers on every machine.
"""

from __future__ import annotations

import math
import random


def binomial(rng: random.Random, trials: int, probability: float) -> int:
    """An exact binomial draw in time proportional to the number of successes.

    Skips from one success to the next by geometric gaps, which keeps a million requests at a
    1 % error rate cheap (Python 3.11's `random` has no binomial).
    """
    if trials <= 0 or probability <= 0.0:
        return 0
    if probability >= 1.0:
        return trials
    if probability > 0.5:
        return trials - binomial(rng, trials, 1.0 - probability)
    log_miss = math.log1p(-probability)
    successes, position = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_miss) + 1
        if position > trials:
            return successes
        successes += 1
