"""Run the benchmark: every figure is a ratio to a bare Flask endpoint measured in the same run.

    python -m benchmarks            # full run: results/latest.json, fails when a floor is missed
    python -m benchmarks --smoke    # small and quick: results/logs/smoke.json, fails only on errors

Phases (one module each): fulfil, replay and poll on PostgreSQL; fulfilment and polling
together on SQLite; flat (the same reads on 1,000 and on 1,000,000 ledger entries) with the CSV
export's memory. After every phase `flask credits verify-ledger` must pass and the credits
granted must equal the paid purchases, or the run fails whatever its mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from .config import FULL, RESULTS, ROOT, SMOKE, Mode
from .report import conclude, gunicorn_setting, print_summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="small and quick; fail only on errors")
    parser.add_argument(
        "--only",
        help="comma-separated phases: fulfil,replay,poll,sqlite,flat (default: all)",
    )
    parser.add_argument(
        "--app-root",
        default=os.environ.get("BENCH_APP_ROOT") or str(ROOT),
        help="serve the app from another checkout (to measure a proposed change)",
    )
    parser.add_argument("--output", help="write the JSON here instead of results/<mode>.json")
    return parser.parse_args(argv)


def describe(run) -> None:
    """Record when, where and with which load settings the run ran."""
    mode = run.mode
    run.results["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    run.results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "app_root": str(run.app_root),
    }
    run.results["settings"] = {
        "wrk_threads": mode.threads,
        "wrk_connections": mode.connections,
        "rounds": mode.rounds,
        "round_seconds": mode.round_seconds,
        "flat_seconds": mode.flat_seconds,
        "flat_order": list(mode.flat_order),
        "max_requests_per_thread": mode.max_requests,
        "gunicorn": gunicorn_setting(mode, run.app_root),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode: Mode = SMOKE if args.smoke else FULL
    only = set(args.only.split(",")) if args.only else None
    if only and only & {"replay", "poll"}:
        only.add("fulfil")  # replay and poll use what fulfil delivered
    app_root = Path(args.app_root).resolve()
    sys.path.insert(0, str(app_root))
    # Only now may `app` be imported: from the checkout that --app-root names.
    from .harness import Run
    from .phases import run_safely

    run = Run(mode, app_root, only)
    describe(run)
    failure = run_safely(run)
    conclude(run.results, mode, failure)
    output = Path(args.output) if args.output else RESULTS / mode.results_file
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(run.results, indent=2) + "\n")
    print_summary(run.results, mode, failure, output)
    return 0 if run.results["ok"] else 1
