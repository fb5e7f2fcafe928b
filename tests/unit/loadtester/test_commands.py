"""Commands as argv pipelines: what is split how, what needs a shell, which programs may run."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanaria.loadtester.commands import CommandPolicy, CommandRefused, split_pipeline
from kanaria.loadtester.timescale import scale_argv


@pytest.mark.parametrize(
    ("command", "stages"),
    [
        ("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
         [["hey", "-z", "1m", "-q", "10", "-c", "2", "http://podinfo-canary.test:9898/"]]),
        ("curl -sd 'test' http://podinfo-canary:9898/token | grep token",
         [["curl", "-sd", "test", "http://podinfo-canary:9898/token"], ["grep", "token"]]),
        # Quoted or escaped, shell characters are only characters.
        ("curl -d '{\"a\": \"$x; `id`\"}' http://x/", [["curl", "-d", '{"a": "$x; `id`"}', "http://x/"]]),
        ('curl "a|b" \\; x', [["curl", "a|b", ";", "x"]]),
        ("curl http://x/?a=1&b=2", None),
        ("curl 'http://x/?a=1&b=2'", [["curl", "http://x/?a=1&b=2"]]),
        ("curl http://x/#frag", [["curl", "http://x/#frag"]]),
    ],
)  # fmt: skip
def test_split(command: str, stages: list[list[str]] | None) -> None:
    if stages is None:
        with pytest.raises(CommandRefused, match="'&' at position 19 is shell syntax"):
            split_pipeline(command)
    else:
        assert split_pipeline(command) == stages


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("curl x; id", "';'"),
        ("curl x && id", "'&&'"),
        ("curl x || id", "'||'"),
        ("curl $(id)", "'$('"),
        ("curl ${HOME}", "'$'"),
        ("curl `id`", "'`'"),
        ("curl x > f", "'>'"),
        ("curl x >> f", "'>>'"),
        ("curl x < f", "'<'"),
        ("curl x\nid", "a newline"),
        ("curl x # comment", "'#'"),
        ('curl "$HOME"', "'$' inside double quotes"),
    ],
)
def test_shell_syntax_is_named(command: str, named: str) -> None:
    with pytest.raises(CommandRefused, match=named.replace("$", r"\$").replace("(", r"\(")):
        split_pipeline(command)


def test_unbalanced_quotes_and_empty_stages_are_refused() -> None:
    with pytest.raises(CommandRefused, match="No closing quotation"):
        split_pipeline("curl 'x")
    with pytest.raises(CommandRefused, match="stage is empty"):
        split_pipeline("| grep x")


WORDS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
)


@given(st.lists(st.lists(WORDS, min_size=1, max_size=5), min_size=1, max_size=3))
def test_any_argv_quoted_as_shlex_quotes_it_splits_back_unchanged(stages: list[list[str]]) -> None:
    command = " | ".join(shlex.join(stage) for stage in stages)
    assert split_pipeline(command) == stages


def test_policy_checks_every_stage_and_names_the_allowed() -> None:
    policy = CommandPolicy()
    with pytest.raises(CommandRefused, match=r"'grep' is not allowed \(allowed: curl, ghz, hey;"):
        policy.plan("curl http://x/ | grep token", "bash")
    assert CommandPolicy.of(["grep"]).plan("curl http://x/ | grep t", "bash").stages == (
        ("curl", "http://x/"),
        ("grep", "t"),
    )


def test_an_allowed_absolute_path_is_that_path_only() -> None:
    policy = CommandPolicy.of(["/opt/k6/k6"])
    assert policy.plan("/opt/k6/k6 run x.js", "cmd").stages == (("/opt/k6/k6", "run", "x.js"),)
    with pytest.raises(CommandRefused, match="'k6' is not allowed"):
        policy.plan("k6 run x.js", "cmd")
    with pytest.raises(CommandRefused, match="'/usr/bin/curl' is not allowed"):
        policy.plan("/usr/bin/curl http://x/", "cmd")


@pytest.mark.parametrize(
    ("argv", "time_scale", "expected"),
    [
        (["hey", "-z", "1m", "http://x/"], 30, ["hey", "-z", "1800ms", "http://x/"]),
        (["hey", "-z=1m", "http://x/"], 40, ["hey", "-z=1350ms", "http://x/"]),
        (["ghz", "-z", "30s", "x:9999"], 10, ["ghz", "-z", "2700ms", "x:9999"]),
        (["wrk", "--duration=60", "http://x/"], 60, ["wrk", "--duration=1s", "http://x/"]),
        (["hey", "-z", "1m", "http://x/"], 1, ["hey", "-z", "1m", "http://x/"]),
        (["curl", "-z", "1m", "http://x/"], 60, ["curl", "-z", "1m", "http://x/"]),
        (["hey", "-z", "soon", "http://x/"], 60, ["hey", "-z", "soon", "http://x/"]),
    ],
)
def test_scale_argv(argv: list[str], time_scale: float, expected: list[str]) -> None:
    assert scale_argv(argv, time_scale) == expected
