"""podinfo's command line: the seed's flags start the app, bad flags stop it with exit 2."""

from __future__ import annotations

import pytest

from kanaria.apps.podinfo.config import Settings, parse_settings
from kanaria.apps.podinfo.server import main
from kanaria.errors import ConfigError

SEED_FLAGS = [
    "--port=9898",
    "--port-metrics=9797",
    "--grpc-port=9999",
    "--grpc-service-name=podinfo",
    "--level=info",
    "--random-delay=false",
    "--random-error=false",
]


def test_the_seed_command_line_is_accepted() -> None:
    settings = parse_settings(SEED_FLAGS, {})
    assert (settings.port, settings.metrics_port, settings.grpc_port) == (9898, 9797, 9999)
    assert not settings.random_delay
    assert not settings.random_error
    assert settings.host == "127.0.0.1"
    assert settings.message == "greetings from podinfo v3.1.0"


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["--port", "1234"], "port", 1234),
        (["--port=1234"], "port", 1234),
        (["--random-error"], "random_error", True),
        (["--random-error", "true"], "random_error", True),
        (["--random-error=1"], "random_error", True),
        (["--random-error=FALSE"], "random_error", False),
        (["--random-delay-max", "2"], "random_delay_max", 2.0),
        (["--random-delay-max=500", "--random-delay-unit=ms"], "random_delay_max", 0.5),
        (["--random-error-rate", "0.5"], "random_error_rate", 0.5),
        (["--seed=7"], "seed", 7),
        (["--ui-color", "#ff0000"], "ui_color", "#ff0000"),
        (["--unready"], "unready", True),
        (["--host", "127.1.0.5"], "host", "127.1.0.5"),
        (["--version-label", "3.1.1"], "version", "3.1.1"),
    ],
)
def test_flags_in_both_forms(argv: list[str], field: str, expected: object) -> None:
    assert getattr(parse_settings(argv, {}), field) == expected


@pytest.mark.parametrize(
    ("argv", "environ", "field", "expected"),
    [
        ([], {"POD_IP": "127.1.0.9"}, "host", "127.1.0.9"),
        (["--host=127.1.0.2"], {"POD_IP": "127.1.0.9"}, "host", "127.1.0.2"),
        ([], {"PODINFO_VERSION": "3.1.1"}, "version", "3.1.1"),
        (["--version-label=6.0.0"], {"PODINFO_VERSION": "3.1.1"}, "version", "6.0.0"),
        ([], {"PODINFO_UI_COLOR": "#00ff00"}, "ui_color", "#00ff00"),
        ([], {"PODINFO_UI_MESSAGE": "hello"}, "message", "hello"),
        ([], {"PODINFO_PORT": "tcp://10.0.0.1:9898"}, "port", 9898),
    ],
)
def test_environment_fills_what_flags_leave_out(
    argv: list[str], environ: dict[str, str], field: str, expected: object
) -> None:
    assert getattr(parse_settings(argv, environ), field) == expected


def test_message_follows_the_reported_version() -> None:
    assert Settings(version="3.1.1").message == "greetings from podinfo v3.1.1"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--random-error=maybe"], "expected true or false"),
        (["--port=http"], "--port"),
        (["--port=70000"], "between 0 and 65535"),
        (["--random-error-rate=1.5"], "between 0 and 1"),
        (["--level=verbose"], "--level"),
        (["--por=9898"], "unrecognized arguments"),
    ],
)
def test_bad_flags_exit_2_naming_the_problem(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_settings(argv, {})
    assert stopped.value.code == 2
    assert complaint in capsys.readouterr().err


def test_inverted_delay_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--random-delay-min"):
        parse_settings(["--random-delay-min=3", "--random-delay-max=1"], {})


def test_same_port_twice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="both 9898"):
        parse_settings(["--port=9898", "--port-metrics=9898"], {})


def test_main_exits_2_on_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--random-delay-min=3", "--random-delay-max=1"]) == 2
    assert "--random-delay-min (3.0) is larger than --random-delay-max" in capsys.readouterr().err
