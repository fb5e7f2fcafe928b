"""The decision-quality benchmark, in full: prints the tables and the goals, writes the JSON.

Flagger's checks (the seed Canary), a Kayenta-style Mann-Whitney judge and kanaria's sequential
judge decide the same simulated releases through the real engine; see
`kanaria.platforms.simulated` for how, `platforms/simulated/goals.py` for the goals of issue 14,
and `docs/analysis.md` for the judge and the figures.

    .venv/bin/python -m benchmarks.decisions [--seeds 400] [--json decisions.json]

The same as `kanaria bench decisions` (exit code 1 when a goal is missed), kept here with the
other benchmarks that print figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kanaria.cli.main import main as kanaria
from kanaria.platforms.simulated import DEFAULT_SEEDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    options = [f"--seeds={args.seeds}", f"--workers={args.workers}"]
    if args.json:
        options.append(f"--json={args.json}")
    return kanaria(["bench", "decisions", *options])


if __name__ == "__main__":
    sys.exit(main())
