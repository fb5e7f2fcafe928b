"""Go-style durations (`1h`, `1m30s`, `500ms`), as `--timeout` and `hey -z` write them.

The load tester is a program of its own and reads only its command line and the commands it is
given, both in Go's notation, so it keeps this small parser instead of depending on `spec/`.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
DURATION_PATTERN = r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+"


def parse_go_duration(text: str) -> float:
    """Seconds in a duration as Go's time.ParseDuration reads it; "0" is zero.

    Raises ValueError naming the text when it is not a non-negative duration.
    """
    stripped = text.strip()
    if stripped == "0":
        return 0.0
    if not re.fullmatch(DURATION_PATTERN, stripped):
        raise ValueError(f"expected a duration like 30s, 1m or 1h30m, found {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(stripped))


def format_go_duration(seconds: float) -> str:
    """Whole seconds as `2s`, anything finer as milliseconds (`1500ms`); Go reads both."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def format_whole_seconds(seconds: float) -> str:
    """Seconds rounded up to a whole number, for tools (wrk) that only read `Ns`."""
    return f"{max(1, math.ceil(seconds - 1e-9))}s"
