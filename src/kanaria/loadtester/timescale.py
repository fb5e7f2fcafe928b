"""Shortens the durations of load-test commands by the platform's time scale.

The local platform runs the seed's 1-minute analysis interval in a few seconds (`--time-scale`).
A webhook that starts `hey -z 1m` would then keep loading the canary long after the analysis has
moved on, so the load tester divides the run time of known load generators by the same factor:
`hey -z`, `ghz -z` (Go durations) and `wrk -d`/`--duration` (whole seconds), in an argv
(`scale_argv`, the default) or in shell text (`scale_command`, under `--allow-shell`). A shortened
run never drops below one second, and a run already shorter than that is left alone. Everything
else in the command is passed through untouched.

A shortened run also ends a little early (`FINISH_EARLY`): load-test webhooks are called once per
analysis interval and a run still going is not started again, so a run that outlasts its interval
by the tool's start-up time would leave the next interval without load — the canary's metrics
would then have no values. Ending 10 % early makes consecutive runs follow each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from kanaria.loadtester.durations import (
    DURATION_PATTERN,
    format_go_duration,
    format_whole_seconds,
    parse_go_duration,
)

MIN_SCALED_SECONDS = 1.0
FINISH_EARLY = 0.9

# Shell separators between simple commands; each piece is checked for a load generator.
_SEPARATOR = re.compile(r"(&&|\|\||[;|&\n])")
_GO_TOOL = re.compile(r"(?:^|[\s/])(?:hey|ghz)(?:\s|$)")
_WRK_TOOL = re.compile(r"(?:^|[\s/])wrk2?(?:\s|$)")
_GO_FLAG = re.compile(rf"(?<=\s)(-z)(\s+|=)({DURATION_PATTERN})(?=\s|$)")
_WRK_FLAG = re.compile(r"(?<=\s)(-d|--duration)(\s+|=)(\d+[smh]?)(?=\s|$)")


def scaled_seconds(seconds: float, time_scale: float) -> float:
    """`seconds` divided by `time_scale` (and ended early), but not below a second unless it
    was already."""
    return max(seconds / time_scale * FINISH_EARLY, min(seconds, MIN_SCALED_SECONDS))


def scale_command(command: str, time_scale: float) -> str:
    """`command` with the run time of each load generator in it divided by `time_scale`."""
    if time_scale == 1:
        return command
    pieces = _SEPARATOR.split(command)
    return "".join(_scale_piece(piece, time_scale) for piece in pieces)


def scale_argv(argv: Sequence[str], time_scale: float) -> list[str]:
    """`argv` with its run-time flag divided by `time_scale` when it starts a load generator."""
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if time_scale == 1 or program not in _ARGV_FLAGS:
        return list(argv)
    flags, parse, render = _ARGV_FLAGS[program]
    scaled = list(argv)
    for index, word in enumerate(scaled[1:], start=1):
        name, equals, value = word.partition("=")
        if name not in flags:
            continue
        if equals and _is_duration(value, parse):
            scaled[index] = f"{name}={render(scaled_seconds(parse(value), time_scale))}"
        elif not equals and index + 1 < len(scaled) and _is_duration(scaled[index + 1], parse):
            scaled[index + 1] = render(scaled_seconds(parse(scaled[index + 1]), time_scale))
    return scaled


def _is_duration(text: str, parse: Callable[[str], float]) -> bool:
    try:
        parse(text)
    except (ValueError, IndexError):
        return False
    return True


def _scale_piece(piece: str, time_scale: float) -> str:
    if _GO_TOOL.search(piece):
        return _GO_FLAG.sub(_rewrite(time_scale, parse_go_duration, format_go_duration), piece)
    if _WRK_TOOL.search(piece):
        return _WRK_FLAG.sub(_rewrite(time_scale, _parse_wrk_duration, format_whole_seconds), piece)
    return piece


def _rewrite(
    time_scale: float, parse: Callable[[str], float], render: Callable[[float], str]
) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        flag, separator, duration = match.groups()
        return f"{flag}{separator}{render(scaled_seconds(parse(duration), time_scale))}"

    return replace


def _parse_wrk_duration(text: str) -> float:
    # wrk reads a bare number as seconds, and only whole numbers with s, m or h.
    if not re.fullmatch(r"\d+[smh]?", text):
        raise ValueError(f"expected a wrk duration like 30s, found {text!r}")
    return parse_go_duration(text if text[-1].isalpha() else f"{text}s")


_GO_FLAGS = (frozenset({"-z"}), parse_go_duration, format_go_duration)
_WRK_FLAGS = (frozenset({"-d", "--duration"}), _parse_wrk_duration, format_whole_seconds)
_ARGV_FLAGS = {"hey": _GO_FLAGS, "ghz": _GO_FLAGS, "wrk": _WRK_FLAGS, "wrk2": _WRK_FLAGS}
