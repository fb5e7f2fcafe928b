"""`kanaria loadtester …`: Flagger's load tester API, for webhooks (the same program the local
platform runs for the `flagger-loadtester` image). Every argument after the verb is its own."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "loadtester",
        help="serve Flagger's load tester API (run `kanaria loadtester -- --help` for flags)",
        description="Flagger's load tester: POST / runs cmd/bash tasks, /gate/* and "
        "/rollback/* are manual gates.",
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the load tester's flags")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kanaria.loadtester.main import main  # noqa: PLC0415

    arguments = [arg for arg in args.arguments if arg != "--"]
    return main(arguments)
