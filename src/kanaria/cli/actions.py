"""`kanaria promote|abort|retry|pause|resume canary/NAME`: act on a release without editing it.

Each asks through the Canary's action annotations (see `engine/actions.py`), so the same
request works on the local platform and on Kubernetes, and waits for the controller's answer in
`status.action`. Exit codes: 0 done, 1 rejected (e.g. promoting a canary that is not
progressing), 2 bad input, 3 no answer within `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from kanaria.cli import status
from kanaria.spec.objects import CANARY
from kanaria.web.actions import annotation_act

EXIT_DONE, EXIT_REJECTED, EXIT_NO_ANSWER = 0, 1, 3
HELP = {
    "promote": "skip the remaining analysis and promote (after the readiness checks)",
    "abort": "roll back now: all traffic to the primary, the canary scaled down",
    "retry": "start a failed release of the same revision again",
    "pause": "hold the analysis where it is (Flagger's suspend, without editing the spec)",
    "resume": "go on with a paused analysis",
}


def register(commands: Any) -> None:
    for action, text in HELP.items():
        parser = commands.add_parser(
            action, help=text, description=text[0].upper() + text[1:] + "."
        )
        parser.add_argument("target", metavar="canary/NAME")
        parser.add_argument(
            "--timeout", default="2m", metavar="D", help="how long to wait for the answer (2m)"
        )
        status.connection_flags(parser)
        parser.set_defaults(run=run, action=action)


def run(args: argparse.Namespace) -> int:
    name = status.canary_name(args.target)
    namespace = args.namespace or "default"
    wait = status.duration_flag(args.timeout, "--timeout")
    return asyncio.run(_act(args, namespace, name, wait))


async def _act(args: argparse.Namespace, namespace: str, name: str, wait: float) -> int:
    async with status.connect(args) as objects:
        if await objects.get(CANARY, namespace, name) is None:
            print(f"error: canary {name!r} not found in namespace {namespace!r}")
            return 2
        outcome = await annotation_act(objects, answer_wait=wait)(namespace, name, args.action)
    print(outcome.message)
    if outcome.pending:
        return EXIT_NO_ANSWER
    return EXIT_DONE if outcome.ok else EXIT_REJECTED


__all__ = ["register"]
