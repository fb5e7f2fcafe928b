"""Rendering query templates: every MetricTemplate variable, strict failures, durations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanaria.errors import ConfigError
from kanaria.providers.render import TemplateModel, format_duration, render_query

MODEL = TemplateModel(
    name="podinfo",
    namespace="test",
    target="podinfo-target",
    service="podinfo-svc",
    ingress="podinfo-ing",
    route="podinfo-route",
    interval=60,
    variables={"direction": "inbound", "le": "500"},
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ name }}", "podinfo"),
        ("{{ namespace }}", "test"),
        ("{{ target }}", "podinfo-target"),
        ("{{ service }}", "podinfo-svc"),
        ("{{ ingress }}", "podinfo-ing"),
        ("{{ route }}", "podinfo-route"),
        ("{{ interval }}", "1m"),
        ("{{ variables.direction }}", "inbound"),
        ("{{ variables.le }}", "500"),
        ("{{name}}", "podinfo"),
        ("{{   namespace\t}}", "test"),
        ("{{variables.direction}}", "inbound"),
    ],
    ids=lambda value: value if isinstance(value, str) and "{{" in value else "",
)
def test_each_variable_renders(template: str, expected: str) -> None:
    assert render_query(template, MODEL) == expected


def test_service_ingress_and_route_default_to_the_target() -> None:
    model = TemplateModel(name="podinfo", namespace="test", target="podinfo")
    assert render_query("{{ service }} {{ ingress }} {{ route }}", model) == (
        "podinfo podinfo podinfo"
    )


def test_a_query_over_many_lines_becomes_one_line() -> None:
    template = """
        sum(
          rate(
            http_requests_total{ns="{{ namespace }}",\tpod=~"{{ target }}-.*"}[{{ interval }}]
          )
        )
    """
    assert render_query(template, MODEL) == (
        'sum( rate( http_requests_total{ns="test", pod=~"podinfo-target-.*"}[1m] ) )'
    )


def test_go_trim_markers_remove_the_whitespace_beside_them() -> None:
    assert render_query("a {{- name -}} b", MODEL) == "apodinfob"
    assert render_query("a {{- name }} b", MODEL) == "apodinfo b"


@pytest.mark.parametrize(
    ("template", "model", "message"),
    [
        ("{{ variables.missing }}", MODEL, r"variables\.missing .* has: direction, le"),
        ("{{ variables.x }}", TemplateModel("n", "ns", "t"), r"variables\.x .* has: none"),
        ("[{{ interval }}]", TemplateModel("n", "ns", "t"), r"\{\{ interval \}\}.*none"),
        ("{{ .Name }}", MODEL, r"\{\{ \.Name \}\} is not supported"),
        ('{{ if eq name "x" }}', MODEL, "is not supported"),
        ("{{ }}", MODEL, "is not supported"),
        ("{{ variables }}", MODEL, "is not supported"),
        ("sum(x{a={{ name }", MODEL, "unclosed action"),
    ],
    ids=["missing-key", "no-variables", "no-interval", "field", "if", "empty", "map", "unclosed"],
)
def test_templates_that_cannot_render_name_the_problem(
    template: str, model: TemplateModel, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        render_query(template, model)


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (60, "1m"),
        (30.0, "30s"),
        (timedelta(seconds=90), "1m30s"),
        ("5s", "5s"),
        (" 1m30s ", "1m30s"),
        ("2w", "2w"),
    ],
)
def test_interval_accepts_seconds_timedelta_or_prometheus_text(
    interval: float | timedelta | str, expected: str
) -> None:
    model = TemplateModel("n", "ns", "t", interval=interval)
    assert render_query("{{ interval }}", model) == expected


@pytest.mark.parametrize("interval", ["1.5m", "one minute", "", "5", 0, timedelta(0)])
def test_an_interval_prometheus_would_refuse_is_a_config_error(
    interval: float | timedelta | str,
) -> None:
    with pytest.raises(ConfigError, match="interval"):
        render_query("{{ interval }}", TemplateModel("n", "ns", "t", interval=interval))


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (60, "1m"),
        (30, "30s"),
        (90, "1m30s"),
        (2.5, "2500ms"),
        (0.001, "1ms"),
        (1.1, "1100ms"),
        (3600, "1h"),
        (3661, "1h1m1s"),
        (86400, "24h"),
        (0, "0s"),
        (timedelta(minutes=2, milliseconds=5), "120005ms"),
    ],
)
def test_format_duration(seconds: float | timedelta, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("seconds", [-1, 0.0005, float("nan"), float("inf"), timedelta(0, 0, 1)])
def test_durations_prometheus_cannot_write_are_refused(seconds: float | timedelta) -> None:
    with pytest.raises(ConfigError):
        format_duration(seconds)


_PROMETHEUS_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")


def _milliseconds_in(text: str) -> int:
    """An independent reading of the Prometheus duration units format_duration may emit."""
    match = _PROMETHEUS_DURATION.fullmatch(text)
    assert text, "an empty duration"
    assert match, f"{text!r} is not a Prometheus duration"
    hours, minutes, seconds, millis = (int(group or 0) for group in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


@given(st.integers(min_value=0, max_value=10**10))
def test_whole_milliseconds_round_trip(millis: int) -> None:
    assert _milliseconds_in(format_duration(millis / 1000)) == millis


@given(st.integers(min_value=0, max_value=10**7))
def test_whole_seconds_use_no_milliseconds_and_no_zero_units(seconds: int) -> None:
    text = format_duration(seconds)
    assert "ms" not in text
    assert not re.search(r"(?<!\d)0[hms]", text) or text == "0s"


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_timedeltas_in_whole_milliseconds_round_trip(duration: timedelta) -> None:
    whole = timedelta(milliseconds=duration // timedelta(milliseconds=1))
    assert _milliseconds_in(format_duration(whole)) == whole // timedelta(milliseconds=1)
