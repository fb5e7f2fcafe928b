"""The command line of podinfo, read the way podinfo reads it, plus what kanaria adds.

Manifests written for the real podinfo (`./podinfo --port=9898 --random-error=false ...`) must
start this app unchanged, so the flags keep podinfo's names and defaults and accept both
`--flag=value` and `--flag value`. kanaria adds the bind address (each local replica gets its own
loopback "pod IP"), the version to report (the image catalog passes the image tag), and knobs that
make fault injection testable: an error rate and a random seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kanaria.errors import ConfigError

DEFAULT_VERSION = "3.1.0"
DEFAULT_COLOR = "#34577c"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic")

_TRUE_WORDS = frozenset({"1", "t", "true"})
_FALSE_WORDS = frozenset({"0", "f", "false"})


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know, after flags and environment are merged."""

    host: str = "127.0.0.1"
    port: int = 9898
    metrics_port: int = 0
    grpc_port: int = 0
    grpc_service_name: str = "podinfo"
    level: str = "info"
    version: str = DEFAULT_VERSION
    revision: str = "local"
    ui_message: str = ""
    ui_color: str = DEFAULT_COLOR
    ui_logo: str = ""
    random_delay: bool = False
    random_delay_min: float = 0.0
    random_delay_max: float = 5.0
    random_error: bool = False
    random_error_rate: float = 1 / 3
    seed: int | None = None
    unhealthy: bool = False
    unready: bool = False

    @property
    def message(self) -> str:
        return self.ui_message or f"greetings from podinfo v{self.version}"


def parse_go_bool(text: str) -> bool:
    """A boolean as Go's strconv.ParseBool reads it, so `--random-error=false` means false."""
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, found {text!r}")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, found {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 0 and 65535, found {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, found {text!r}")
    return value


def _add_bool(parser: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    # `--flag` alone means true, as with Go's pflag; `--flag=false` and `--flag false` also work.
    parser.add_argument(
        flag, type=parse_go_bool, nargs="?", const=True, default=False, help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kanaria.apps.podinfo",
        usage="%(prog)s [--flag=value | --flag value] ...",
        description="A podinfo-compatible HTTP app for canary tests.",
        allow_abbrev=False,
    )
    add = parser.add_argument
    add("--port", type=_port, default=9898, help="HTTP port of the API")
    add("--port-metrics", type=_port, default=0, help="port of /metrics; 0 turns it off")
    add("--grpc-port", type=_port, default=0, help="accepted for compatibility; no gRPC server")
    add("--grpc-service-name", default="podinfo", help="accepted for compatibility")
    add("--level", choices=LOG_LEVELS, default="info", help="log level")
    _add_bool(parser, "--random-delay", "delay API responses by a random time")
    add("--random-delay-min", type=_seconds, default=0.0, help="smallest random delay")
    add("--random-delay-max", type=_seconds, default=5.0, help="largest random delay")
    add("--random-delay-unit", choices=("s", "ms"), default="s", help="unit of min and max")
    _add_bool(parser, "--random-error", "answer a fraction of API requests with 500")
    add("--ui-message", default=None, help="message returned by GET /")
    add("--ui-color", default=None, help="color returned by GET /")
    add("--ui-logo", default=None, help="logo URL returned by GET /")
    _add_bool(parser, "--unhealthy", "start with /healthz failing")
    _add_bool(parser, "--unready", "start with /readyz failing")
    add("--host", default=None, help="bind address (default $POD_IP or 127.0.0.1)")
    add("--version-label", default=None, help="version to report (default $PODINFO_VERSION)")
    add("--random-error-rate", type=_fraction, default=1 / 3, help="fraction of errors")
    add("--seed", type=int, default=None, help="seed of the random delays and errors")
    return parser


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Settings from the command line, then the environment, then podinfo's defaults.

    argparse exits with status 2 and a message naming the flag on bad or unknown flags.
    """
    args = build_parser().parse_args(list(argv))
    settings = Settings(
        host=args.host or environ.get("POD_IP") or "127.0.0.1",
        port=args.port,
        metrics_port=args.port_metrics,
        grpc_port=args.grpc_port,
        grpc_service_name=args.grpc_service_name,
        level=args.level,
        version=args.version_label or environ.get("PODINFO_VERSION") or DEFAULT_VERSION,
        revision=environ.get("PODINFO_REVISION", "local"),
        ui_message=_pick(args.ui_message, environ, "PODINFO_UI_MESSAGE", ""),
        ui_color=_pick(args.ui_color, environ, "PODINFO_UI_COLOR", DEFAULT_COLOR),
        ui_logo=_pick(args.ui_logo, environ, "PODINFO_UI_LOGO", ""),
        random_delay=args.random_delay,
        random_delay_min=_in_seconds(args.random_delay_min, args.random_delay_unit),
        random_delay_max=_in_seconds(args.random_delay_max, args.random_delay_unit),
        random_error=args.random_error,
        random_error_rate=args.random_error_rate,
        seed=args.seed,
        unhealthy=args.unhealthy,
        unready=args.unready,
    )
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """Reject combinations that no single flag can catch."""
    if settings.random_delay_min > settings.random_delay_max:
        raise ConfigError(
            f"--random-delay-min ({settings.random_delay_min}) is larger than "
            f"--random-delay-max ({settings.random_delay_max})"
        )
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise ConfigError(f"--port and --port-metrics are both {settings.port}")


def _pick(flag_value: str | None, environ: Mapping[str, str], env_name: str, default: str) -> str:
    # podinfo reads PODINFO_UI_* from the environment too; only the UI ones are honoured here,
    # because Kubernetes service links set PODINFO_PORT=tcp://... for a Service named podinfo.
    if flag_value is not None:
        return flag_value
    return environ.get(env_name, default)


def _in_seconds(value: float, unit: str) -> float:
    return value / 1000 if unit == "ms" else value
