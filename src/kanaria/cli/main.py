"""The `kanaria` command: one parser, one subcommand module per group of verbs.

Exit codes: 0 success, 1 the operation failed (e.g. a release ended in the wrong state),
2 bad input (a wrong flag, an invalid manifest). Errors print one clear line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from kanaria import __version__
from kanaria.cli import validate
from kanaria.errors import ConfigError, KanariaError
from kanaria.redaction import redact_logs

Command = Callable[[argparse.Namespace], int]
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanaria",
        description="Canary releases driven by live metrics, on Kubernetes or on one machine.",
    )
    parser.add_argument("--version", action="version", version=f"kanaria {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what kanaria does")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    validate.register(commands)
    for module in _optional_modules():
        module.register(commands)
    return parser


def _optional_modules() -> list[ModuleType]:
    """Subcommand modules; each has `register(subparsers)` and imports what it runs lazily,
    inside its commands, so that `kanaria validate` stays quick."""
    names = ["demo", "local", "kubectl", "operator", "loadtester", "actions", "bench", "status"]
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"kanaria.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"kanaria.cli.{name}":
                raise
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_logs()
    command: Command = args.run
    try:
        return command(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KanariaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kanaria get … | head`): nothing more to say, and no traceback
        # when Python flushes stdout on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
