"""`kanaria bench decisions`: how well each analysis policy decides, on simulated releases.

Runs the real engine on the simulated platform (`platforms/simulated`) for Flagger's checks, a
Kayenta-style judge and kanaria's sequential judge on the same scenarios and seeds, prints the
tables and the goals of issue 14 and, with `--json`, writes every number behind them. Exits 1
when a goal is missed, so CI can hold the judge to them. The heavy imports happen inside the
command, so other commands stay quick to start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from kanaria.platforms.simulated import DEFAULT_SEEDS, QUICK_SEEDS


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="benchmarks on simulated time",
        description="Benchmarks that run the real engine on simulated time.",
    )
    benches = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    decisions = benches.add_parser(
        "decisions",
        help="false rollbacks, detection and blast radius of each analysis policy",
        description=(
            "Release simulated good and bad canaries under Flagger's checks (the seed Canary), "
            "a Kayenta-style Mann-Whitney judge and kanaria's sequential judge, on the same "
            "seeds, and print detection rate, blast radius, false rollbacks and time to "
            "promotion, and whether the judge meets its goals (exit code 1 when one is missed)."
        ),
    )
    decisions.add_argument(
        "--seeds",
        type=_positive,
        metavar="N",
        help=f"releases per scenario (default {DEFAULT_SEEDS}, {QUICK_SEEDS} with --quick)",
    )
    decisions.add_argument(
        "--scenarios",
        nargs="+",
        metavar="NAME",
        help="only these scenarios, by name ('errors +2 pp') or slug (errors-+2-pp)",
    )
    decisions.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    decisions.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SEEDS} seeds: a check in seconds"
    )
    decisions.add_argument(
        "--workers",
        type=_positive,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="processes to run releases on (default: 2, or 1 on one core)",
    )
    decisions.set_defaults(run=run_decisions)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def run_decisions(args: argparse.Namespace) -> int:
    from kanaria.platforms.simulated.bench import run_releases, summarise  # noqa: PLC0415
    from kanaria.platforms.simulated.goals import check_goals  # noqa: PLC0415
    from kanaria.platforms.simulated.report import as_json, render  # noqa: PLC0415
    from kanaria.platforms.simulated.scenarios import benchmark_scenarios  # noqa: PLC0415

    scenarios = benchmark_scenarios(args.scenarios)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    started = time.monotonic()
    results = run_releases(scenarios, seeds, workers=args.workers, progress=_progress)
    wall = time.monotonic() - started
    print(file=sys.stderr)
    summaries = summarise(results, scenarios)
    print(render(summaries, seeds, wall))
    if args.json:
        document = as_json(summaries, results, scenarios, seeds, wall)
        args.json.write_text(json.dumps(document, indent=1) + "\n")
        print(f"results written to {args.json}")
    return 0 if all(goal.met for goal in check_goals(summaries)) else 1


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{done}/{total} scenario × seed", end="", file=sys.stderr, flush=True)
