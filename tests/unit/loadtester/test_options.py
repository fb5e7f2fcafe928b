"""The load tester's flags: Flagger's spelling works, mistakes exit 2 with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanaria.errors import ConfigError
from kanaria.loadtester.main import main, parse_options
from kanaria.loadtester.sandbox import CommandLine, checked_command_line


def test_flaggers_own_arguments_are_accepted() -> None:
    options = parse_options(["-port=8080", "-log-level=info", "-timeout=1h"], {})
    assert (options.port, options.log_level, options.timeout) == (8080, "info", 3600)


def test_defaults() -> None:
    options = parse_options([], {})
    assert (options.host, options.port, options.time_scale) == ("127.0.0.1", 8080, 1.0)
    assert options.hosts_file is None
    assert options.namespace_pattern is None


def test_kanaria_flags_in_both_forms() -> None:
    argv = ["--hosts-file", "/tmp/hosts", "--time-scale=30", "--timeout", "90s", "--port", "0"]
    options = parse_options(argv, {"POD_IP": "127.1.0.7"})
    assert options.hosts_file == Path("/tmp/hosts")
    assert (options.time_scale, options.timeout, options.port) == (30, 90, 0)
    assert options.host == "127.1.0.7"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--timeout=forever"], "expected a duration"),
        (["--timeout=0"], "expected a positive duration"),
        (["--time-scale=0"], "expected a positive number"),
        (["--namespace-regexp=("], "not a regular expression"),
        (["--log-level=loud"], "--log-level"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--allow-program=bin/sh"], "expected a program name or an absolute path"),
        (["--allow-program="], "expected a program name or an absolute path"),
    ],
)
def test_bad_flags_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_options(argv, {})
    assert stopped.value.code == 2
    assert complaint in capsys.readouterr().err


def test_port_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--port"):
        parse_options(["--port=70000"], {})


def test_a_missing_hosts_file_fails_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "hosts"
    assert main([f"--hosts-file={missing}"]) == 2
    assert f"--hosts-file {missing}: no such file" in capsys.readouterr().err


def test_no_hosts_file_means_the_argv_as_it_is() -> None:
    command_line = checked_command_line(None)
    assert command_line.wrap(["curl", "http://a/"]) == ["curl", "http://a/"]


def test_hosts_file_commands_pass_path_and_argv_as_arguments() -> None:
    argv = CommandLine(Path("/state/hosts")).wrap(["curl", '"http://a.test/"; id'])
    # Neither the path nor the argv is spliced into shell text, so words survive as written.
    assert argv[-3:] == ["/state/hosts", "curl", '"http://a.test/"; id']
    assert "--propagation" in argv


def test_the_default_policy_allows_hey_curl_and_ghz_and_no_shell() -> None:
    policy = parse_options([], {}).policy
    assert (policy.programs, policy.allow_shell) == ({"hey", "curl", "ghz"}, False)


def test_programs_and_the_shell_are_allowed_by_flag() -> None:
    options = parse_options(
        ["--allow-program=grep", "-allow-program", "/opt/k6", "--allow-shell"], {}
    )
    assert options.policy.programs == {"hey", "curl", "ghz", "grep", "/opt/k6"}
    assert options.policy.allow_shell


@pytest.mark.parametrize(
    ("argv", "environ", "token"),
    [
        ([], {}, None),
        (["--token=abc"], {"KANARIA_LOADTESTER_TOKEN": "env"}, "abc"),
        ([], {"KANARIA_LOADTESTER_TOKEN": " env\n"}, "env"),
    ],
)
def test_token_from_flag_or_environment(
    argv: list[str], environ: dict[str, str], token: str | None
) -> None:
    assert parse_options(argv, environ).token == token


def test_token_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert parse_options([f"--token-file={secret}"], {}).token == "from-file"


@pytest.mark.parametrize(
    ("argv", "environ", "complaint"),
    [
        (["--token="], {}, "--token: the token is empty"),
        ([], {"KANARIA_LOADTESTER_TOKEN": ""}, "the token is empty"),
        (["--token-file=/nonexistent/token"], {}, "cannot read it"),
    ],
)
def test_an_empty_or_unreadable_token_is_a_config_error(
    argv: list[str], environ: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_options(argv, environ)
