"""The counts a metrics provider hands to the sequential judge, one pair per look.

Kept apart from the judge so that the provider, the simulator and the judge's saved state can
share it without importing the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanaria.errors import PermanentError

# The two things the judge counts per request: a 5xx response, or a response slower than the
# latency bound.
ERRORS = "errors"
LATENCY = "latency"


@dataclass(frozen=True)
class Counts:
    """Cumulative counts of one version since the analysis started (or since the last reset)."""

    requests: int
    errors: int = 0  # responses with a 5xx code
    slow: int = 0  # requests slower than the latency bound, from the histogram buckets

    def __post_init__(self) -> None:
        if min(self.requests, self.errors, self.slow) < 0:
            raise PermanentError(f"request counts cannot be negative: {self}")

    def events(self, metric: str) -> int:
        return self.errors if metric == ERRORS else self.slow

    def minus(self, before: Counts) -> Counts:
        return Counts(
            self.requests - before.requests, self.errors - before.errors, self.slow - before.slow
        )

    def went_below(self, before: Counts) -> bool:
        return (
            self.requests < before.requests
            or self.errors < before.errors
            or self.slow < before.slow
        )
