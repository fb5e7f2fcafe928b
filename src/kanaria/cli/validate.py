"""`kanaria validate -f FILE …`: check manifests without applying them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kanaria.spec.documents import read_files


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "validate",
        help="check manifests (every problem, with file, document, field path)",
        description="Check multi-document YAML manifests. Exit 2 if any has an error.",
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="a manifest file or a directory of them; repeat for several",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = read_files(args.filename)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.errors:
        count = len(result.errors)
        print(
            f"{count} error{'s' if count > 1 else ''}; nothing is valid until fixed",
            file=sys.stderr,
        )
        return 2
    for document in result.documents:
        print(f"{document.source}[{document.index}] {document.subject}: valid")
    return 0
