"""Profile the fulfilment and poll paths (and the reference handlers' same jobs) in-process:
CPU and SQL time and statements per request, with pyinstrument trees or cProfile's figures.

    python -m benchmarks.profile [--requests 300] [--app-root PATH] [--no-profiler | --cprofile]

Uses a fresh PostgreSQL database (BENCH_DATABASE_URL's server, dropped at the end) and the
app's own test client, one request at a time, so the figures are per request and not
blurred by concurrency. Writes results/profile/summary.json and prints a table of statements,
commits and milliseconds per request for each path; pyinstrument's text goes to
results/profile/<path>.txt. With `--cprofile`, cProfile's top functions go to
<path>.cprofile.txt and the cost of each part of fulfil and poll (`profile_parts.py`) to
parts.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import RESULTS, ROOT
from .profile_meter import Meter


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--app-root", default=str(ROOT))
    parser.add_argument("--output", default=str(RESULTS / "profile"))
    parser.add_argument("--show-all", action="store_true", help="keep library frames")
    parser.add_argument(
        "--no-profiler", action="store_true", help="time the requests without pyinstrument"
    )
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="write cProfile's top functions and the cost by part instead of pyinstrument trees "
        "(its overhead is in the figures)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_root = Path(args.app_root).resolve()
    sys.path.insert(0, str(app_root))
    # Only now may `app` be imported: from the checkout that --app-root names.
    from .profile_paths import profile_all

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    profiler = None if args.no_profiler else "cprofile" if args.cprofile else "pyinstrument"
    profile_all(app_root, out, args.requests, Meter(out, profiler=profiler, show_all=args.show_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
