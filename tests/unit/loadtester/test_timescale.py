"""Load-test durations follow the platform's time scale; the rest of a command is untouched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanaria.loadtester.durations import format_go_duration, parse_go_duration
from kanaria.loadtester.timescale import scale_command, scaled_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("1.5s", 1.5), ("0", 0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "1d", "-1s", "s", "1m x"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("command", "time_scale", "expected"),
    [
        # The seed's load test at the demo's scale.
        (
            "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
            30,
            "hey -z 1800ms -q 10 -c 2 http://podinfo-canary.test:9898/",
        ),
        ("hey -z 3s http://x/", 3, "hey -z 1s http://x/"),
        ("hey -z=1m http://x/", 40, "hey -z=1350ms http://x/"),
        ("/usr/bin/hey -z 2m http://x/", 60, "/usr/bin/hey -z 1800ms http://x/"),
        ("hey -z 1m http://x/", 1000, "hey -z 1s http://x/"),
        ("hey -z 500ms http://x/", 10, "hey -z 500ms http://x/"),
        ("ghz -z 30s --insecure x:9999", 10, "ghz -z 2700ms --insecure x:9999"),
        ("wrk -d 30s http://x/", 20, "wrk -d 2s http://x/"),
        ("wrk --duration=60 http://x/", 60, "wrk --duration=1s http://x/"),
        ("hey -z 1m http://x/ && hey -z 2m http://y/", 60, "hey -z 1s http://x/ && hey -z 1800ms http://y/"),
        ("hey -z 1m http://x/", 1, "hey -z 1m http://x/"),
        # Not a load generator: nothing changes.
        ("grep -z 1m file", 60, "grep -z 1m file"),
        ("curl -sd 'test' http://podinfo-canary:9898/token | grep token", 60,
         "curl -sd 'test' http://podinfo-canary:9898/token | grep token"),
        ("sleep 60; hey -n 100 http://x/", 60, "sleep 60; hey -n 100 http://x/"),
    ],
)  # fmt: skip
def test_scale_command(command: str, time_scale: float, expected: str) -> None:
    assert scale_command(command, time_scale) == expected


@given(
    seconds=st.floats(min_value=0.001, max_value=86400),
    time_scale=st.floats(min_value=1, max_value=10000),
)
def test_scaled_run_never_longer_nor_below_a_second_unless_it_was(
    seconds: float, time_scale: float
) -> None:
    scaled = scaled_seconds(seconds, time_scale)
    assert scaled <= seconds
    assert scaled >= min(seconds, 1.0)


@given(millis=st.integers(min_value=0, max_value=10**9))
def test_formatted_durations_read_back(millis: int) -> None:
    assert parse_go_duration(format_go_duration(millis / 1000)) == pytest.approx(millis / 1000)
