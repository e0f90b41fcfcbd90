"""Profile the fulfilment and poll paths (and the reference handlers' same jobs) in-process:
SQL statements per request and pyinstrument.

    python -m benchmarks.profile [--requests 300] [--app-root PATH]

Uses a fresh PostgreSQL database (BENCH_DATABASE_URL's server, dropped at the end) and the
app's own test client, one request at a time, so the figures are per request and not
blurred by concurrency. Writes results/profile/<path>.txt (pyinstrument text) and prints a
table of statements, commits and milliseconds per request for each path.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from .config import FULL, RESULTS, ROOT, USER_AGENT

SHOW_ALL = False


def main(argv: list[str] | None = None) -> int:
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
        help="write cProfile's top functions instead of pyinstrument trees (its overhead is in "
        "the figures)",
    )
    args = parser.parse_args(argv)
    global SHOW_ALL
    SHOW_ALL = args.show_all
    app_root = Path(args.app_root).resolve()
    sys.path.insert(0, str(app_root))

    from pyinstrument import Profiler
    from sqlalchemy import event

    from . import run as bench
    from .data import pending_purchases, prepare_schema
    from .events import (
        REDELIVERY_PATH,
        WEBHOOK_PATH,
        event_bodies,
        session_template,
        sign_all,
    )

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    runner = bench.Run(FULL, app_root, None)
    report = {}
    try:
        url = runner.new_database("profile")
        prepare_schema(runner.app_env(url), app_root)
        app = runner.in_process_app(url)
        n = args.requests
        purchases = pending_purchases(url, n, seed=31, checked=True)
        pending = pending_purchases(url, 20, seed=32, checked=True)
        template, _ = session_template()
        bodies = event_bodies(template, purchases)
        from app.extensions import db

        statements: Counter[str] = Counter()
        with app.app_context():
            engine = db.engine

        sql_seconds = [0.0]
        sql_detail: dict[str, float] = {}

        @event.listens_for(engine, "before_cursor_execute")
        def count(conn, cursor, statement, parameters, context, executemany) -> None:
            statements[statement.split()[0].upper()] += 1
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def timed(conn, cursor, statement, parameters, context, executemany) -> None:
            took = time.perf_counter() - conn.info.pop("bench_started")
            sql_seconds[0] += took
            if os.environ.get("BENCH_SQL_DETAIL"):
                key = " ".join(statement.split()[:4])[:60]
                sql_detail[key] = sql_detail.get(key, 0.0) + took

        @event.listens_for(engine, "commit")
        def count_commit(conn) -> None:
            statements["COMMIT"] += 1

        client = app.test_client()
        headers = {"User-Agent": USER_AGENT}

        def measure(name: str, requests: list) -> None:
            statements.clear()
            sql_seconds[0] = 0.0
            # One profiling hook per thread: cProfile would silently displace pyinstrument.
            use_pyinstrument = not (args.no_profiler or args.cprofile)
            profiler = Profiler(interval=0.0005) if use_pyinstrument else None
            times = []
            cpu_started = time.thread_time()
            if profiler:
                profiler.start()
            functions = cProfile.Profile() if args.cprofile else None
            if functions:
                functions.enable()
            for send in requests:
                started = time.perf_counter()
                response = send()
                times.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    raise RuntimeError(f"{name}: {response.status_code} {response.data[:300]}")
            cpu = time.thread_time() - cpu_started
            if functions:
                functions.disable()
                with (out / f"{name}.cprofile.txt").open("w") as stream:
                    stats = pstats.Stats(functions, stream=stream)
                    stats.sort_stats("tottime").print_stats(60)
                    stats.sort_stats("cumulative").print_stats(80)
            if profiler:
                profiler.stop()
                (out / f"{name}.txt").write_text(
                    profiler.output_text(unicode=False, color=False, show_all=SHOW_ALL)
                )
            for key, took in sorted(sql_detail.items(), key=lambda kv: -kv[1]):
                print(f"  {name}: {took / len(requests) * 1000:7.3f} ms  {key}")
            sql_detail.clear()
            per = {k: round(v / len(requests), 2) for k, v in sorted(statements.items())}
            report[name] = {
                "requests": len(requests),
                "ms_median": round(statistics.median(times) * 1000, 2),
                "ms_mean": round(statistics.mean(times) * 1000, 2),
                "cpu_ms_mean": round(cpu / len(requests) * 1000, 2),
                "sql_ms_mean": round(sql_seconds[0] / len(requests) * 1000, 2),
                "statements_per_request": round(
                    sum(v for k, v in statements.items() if k != "COMMIT") / len(requests), 2
                ),
                "by_kind": per,
            }

        signed = sign_all(bodies, runner.webhook_secret)

        def webhook(signature: str, body: str):
            return lambda: client.post(
                WEBHOOK_PATH,
                data=body,
                headers={
                    **headers,
                    "Stripe-Signature": signature,
                    "Content-Type": "application/json",
                },
            )

        measure("fulfil", [webhook(s, b) for s, b in signed])
        measure("replay", [webhook(s, b) for s, b in sign_all(bodies, runner.webhook_secret)])

        # The same fulfilment through the minimal Core handler (reference_app.py).
        os.environ.update(
            DATABASE_URL=url,
            STRIPE_WEBHOOK_SECRET=runner.webhook_secret,
            SECRET_KEY=runner.secret_key,
        )
        from .reference_app import app as reference
        from .reference_app import engine as reference_engine

        event.listen(reference_engine, "before_cursor_execute", count)
        event.listen(reference_engine, "after_cursor_execute", timed)
        event.listen(reference_engine, "commit", count_commit)
        others = pending_purchases(url, n, seed=33, checked=True)
        reference_client = reference.test_client()

        def reference_webhook(signature: str, body: str, path: str = WEBHOOK_PATH):
            return lambda: reference_client.post(
                path,
                data=body,
                headers={**headers, "Stripe-Signature": signature},
            )

        reference_bodies = event_bodies(template, others)
        signed = sign_all(reference_bodies, runner.webhook_secret)
        measure("reference_fulfil", [reference_webhook(s, b) for s, b in signed])
        signed = sign_all(reference_bodies, runner.webhook_secret)
        measure("reference_replay", [reference_webhook(s, b, REDELIVERY_PATH) for s, b in signed])

        cookies = {}
        for p in purchases[:20] + pending:
            cookies[p["user_id"]] = bench.session_cookie(app, p["user_id"])

        def poll(p: dict, query: str = "", via=client):
            def send():
                via.set_cookie("session", cookies[p["user_id"]], domain="localhost")
                return via.get(
                    f"/credits/purchase/{p['public_id']}/status{query}",
                    headers={**headers, "HX-Request": "true"},
                )

            return send

        measure("poll", [poll(purchases[i % 20]) for i in range(n)])
        measure("reference_poll", [poll(purchases[i % 20], via=reference_client) for i in range(n)])
        measure("poll_pending", [poll(pending[i % 20], "?seen=pending") for i in range(n)])
        from app.domain.mail import wait_for_background

        wait_for_background()
    finally:
        runner.cleanup()
    (out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [("path", "ms median", "cpu ms", "sql ms", "statements", "commits", "by kind")]
    for name, r in report.items():
        by = ", ".join(f"{k} {v}" for k, v in r["by_kind"].items() if k != "COMMIT")
        rows.append(
            (
                name,
                f"{r['ms_median']}",
                f"{r['cpu_ms_mean']}",
                f"{r['sql_ms_mean']}",
                f"{r['statements_per_request']}",
                f"{r['by_kind'].get('COMMIT', 0)}",
                by,
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(7)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"pyinstrument profiles in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
