"""Durations as Flagger's YAML writes them (`30s`, `1m`, `1m30s`, `500ms`), parsed once, here.

Everything above `spec/` works in float seconds; `format_duration` turns seconds back into the
shortest Prometheus-style text for query windows and command lines.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from kanaria.errors import ConfigError

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go-style duration; a bare number is taken as seconds.

    Raises ValueError with the text that could not be read.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 30s, 1m or 1m30s, found {text!r}")
    if isinstance(text, int | float):
        if text < 0 or math.isnan(text):
            raise ValueError(f"a duration cannot be negative, found {text!r}")
        return float(text)
    stripped = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", stripped):
        return float(stripped)
    position, total = 0, 0.0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(stripped):
        raise ValueError(f"expected a duration like 30s, 1m or 1m30s, found {text!r}")
    return total


def format_duration(seconds: float | timedelta) -> str:
    """Prometheus duration text: 60 → `1m`, 30 → `30s`, 90 → `1m30s`, 2.5 → `2500ms`.

    Whole seconds use h/m/s; anything with a millisecond part is written in ms. A duration
    that is negative, not finite, or finer than a millisecond cannot be written: ConfigError.
    """
    millis = _whole_milliseconds(seconds)
    if millis % 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis // 1000, 3600)
    minutes, secs = divmod(rest, 60)
    parts = ((hours, "h"), (minutes, "m"), (secs, "s"))
    return "".join(f"{count}{unit}" for count, unit in parts if count) or "0s"


def _whole_milliseconds(seconds: float | timedelta) -> int:
    if isinstance(seconds, timedelta):
        millis, rest = divmod(seconds, timedelta(milliseconds=1))
        exact = not rest
    else:
        if not math.isfinite(seconds):
            raise ConfigError(f"a duration must be finite, got {seconds}")
        millis = round(seconds * 1000)
        exact = math.isclose(millis, seconds * 1000, rel_tol=1e-9, abs_tol=1e-6)
    if millis < 0:
        raise ConfigError(f"a duration cannot be negative, got {seconds}")
    if not exact:
        raise ConfigError(f"Prometheus durations are whole milliseconds, got {seconds} s")
    return int(millis)
