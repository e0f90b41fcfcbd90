"""Per-request figures of one path run in-process: wall and CPU time, time inside SQL, the
statements by kind (SQLAlchemy's engine events), and optionally a profile of the requests."""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

from .profile_parts import PARTS, cost_by_part, print_parts

Send = Callable[[], Any]


class Meter:
    """Counts what the engines it watches send, and measures paths of requests."""

    def __init__(self, out: Path, *, profiler: str | None, show_all: bool = False) -> None:
        self.out = out
        self.profiler = profiler  # "pyinstrument", "cprofile" or None
        self.show_all = show_all
        self.statements: Counter[str] = Counter()
        self.sql_seconds = 0.0
        self.sql_detail: dict[str, float] = {}
        self.report: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, dict[str, Any]] = {}

    def watch(self, engine) -> None:
        """Count and time the statements and commits of an engine."""
        event.listen(engine, "before_cursor_execute", self.before_statement)
        event.listen(engine, "after_cursor_execute", self.after_statement)
        event.listen(engine, "commit", self.on_commit)

    def before_statement(self, conn, cursor, statement, parameters, context, executemany):
        self.statements[statement.split()[0].upper()] += 1
        conn.info["bench_started"] = time.perf_counter()

    def after_statement(self, conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - conn.info.pop("bench_started")
        self.sql_seconds += took
        if os.environ.get("BENCH_SQL_DETAIL"):
            key = " ".join(statement.split()[:4])[:60]
            self.sql_detail[key] = self.sql_detail.get(key, 0.0) + took

    def on_commit(self, conn) -> None:
        self.statements["COMMIT"] += 1

    def measure(self, name: str, requests: list[Send]) -> None:
        """Send the requests one at a time under the chosen profiler; record the figures."""
        self.statements.clear()
        self.sql_seconds = 0.0
        # One profiling hook per thread: cProfile would silently displace pyinstrument.
        profile = self.start_profiler()
        cpu_started = time.thread_time()
        times = []
        for send in requests:
            started = time.perf_counter()
            response = send()
            times.append(time.perf_counter() - started)
            if response.status_code >= 300:
                raise RuntimeError(f"{name}: {response.status_code} {response.data[:300]}")
        cpu = time.thread_time() - cpu_started
        self.stop_profiler(name, profile, len(requests))
        self.record(name, len(requests), times, cpu)

    def start_profiler(self) -> Any:
        if self.profiler == "pyinstrument":
            from pyinstrument import Profiler  # optional: pip install pyinstrument

            profiler = Profiler(interval=0.0005)
            profiler.start()
            return profiler
        if self.profiler == "cprofile":
            functions = cProfile.Profile()
            functions.enable()
            return functions
        return None

    def stop_profiler(self, name: str, profile: Any, requests: int) -> None:
        if isinstance(profile, cProfile.Profile):
            profile.disable()
            self.write_cprofile(name, profile, requests)
        elif profile is not None:
            profile.stop()
            text = profile.output_text(unicode=False, color=False, show_all=self.show_all)
            (self.out / f"{name}.txt").write_text(text)

    def write_cprofile(self, name: str, functions: cProfile.Profile, requests: int) -> None:
        """cProfile's top functions to a file; for fulfil and poll, the cost by part."""
        with (self.out / f"{name}.cprofile.txt").open("w") as stream:
            stats = pstats.Stats(functions, stream=stream)
            stats.sort_stats("tottime").print_stats(60)
            stats.sort_stats("cumulative").print_stats(80)
        if name in PARTS:
            self.parts[name] = cost_by_part(stats, name, requests)
            print_parts(name, self.parts[name])

    def record(self, name: str, requests: int, times: list[float], cpu: float) -> None:
        for key, took in sorted(self.sql_detail.items(), key=lambda kv: -kv[1]):
            print(f"  {name}: {took / requests * 1000:7.3f} ms  {key}")
        self.sql_detail.clear()
        statements = sum(v for k, v in self.statements.items() if k != "COMMIT")
        self.report[name] = {
            "requests": requests,
            "ms_median": round(statistics.median(times) * 1000, 2),
            "ms_mean": round(statistics.mean(times) * 1000, 2),
            "cpu_ms_mean": round(cpu / requests * 1000, 2),
            "sql_ms_mean": round(self.sql_seconds / requests * 1000, 2),
            "statements_per_request": round(statements / requests, 2),
            "by_kind": {k: round(v / requests, 2) for k, v in sorted(self.statements.items())},
        }
