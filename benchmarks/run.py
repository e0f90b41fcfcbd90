"""Run the benchmark: every figure is a ratio to a bare Flask endpoint measured in the same run.

    python -m benchmarks            # full run: results/latest.json, fails when a floor is missed
    python -m benchmarks --smoke    # small and quick: results/smoke.json, fails only on errors

Phases: fulfil, replay and poll on PostgreSQL; fulfilment and polling together on SQLite;
flat (the same reads on 1,000 and on 1,000,000 ledger entries) with the CSV export's memory.
After every phase `flask credits verify-ledger` must pass and the credits granted must equal
the paid purchases, or the run fails whatever its mode.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import (
    AIMS,
    CSV_MEMORY_LIMIT_MB,
    FLAT_EXTRA_READS,
    FLAT_LIMIT,
    FLAT_PAGE_READS,
    FLAT_READS,
    FLOORS,
    FULL,
    RESULTS,
    ROOT,
    SMOKE,
    SQLITE_WORKERS,
    USER_AGENT,
    Mode,
)
from .load import Result
from .servers import Server, gunicorn_config, proc_status_kb, reset_peak

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


class BenchFailure(RuntimeError):
    """Something the benchmark checks for correctness went wrong."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Run:
    def __init__(self, mode: Mode, app_root: Path, only: set[str] | None) -> None:
        self.mode = mode
        self.app_root = app_root
        self.only = only
        self.tmp = Path(tempfile.mkdtemp(prefix="credits-bench-"))
        self.log_dir = RESULTS / "logs" / mode.name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()
        self.secret_key = secrets.token_urlsafe(32)
        self.webhook_secret = "whsec_bench_" + secrets.token_hex(16)
        url = (
            os.environ.get("BENCH_DATABASE_URL") or f"{DEFAULT_SERVER}/credits_bench_{os.getpid()}"
        )
        from .data import database_name

        self.pg_server = url
        self.db_prefix = database_name(url) or f"credits_bench_{os.getpid()}"
        self.databases: list[str] = []
        self.servers: list[Server] = []
        self.apps: list[Any] = []
        self.apps_by_url: dict[str, Any] = {}
        self.bare: Server | None = None
        self.results: dict[str, Any] = {
            "mode": mode.name,
            "ratios": {},
            "floors": dict(FLOORS),
            "aims": dict(AIMS),
            "flat": {},
            "flat_limit": FLAT_LIMIT,
            "csv": {},
            "ledger_ok": True,
            "ledger_checks": [],
            "phases": {},
            "info": {},
            "errors": [],
        }

    # -- environment ----------------------------------------------------------------------

    def app_env(self, database_url: str) -> dict[str, str]:
        """The environment every app server, CLI call and in-process app of this run gets."""
        return {
            "APP_ENV": "development",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": database_url,
            # The real-Stripe code path (no sandbox). Nothing listens on port 9, so a stray
            # Stripe call fails at once and never leaves the machine.
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "STRIPE_TIMEOUT": "2",
            "APP_BASE_URL": "http://127.0.0.1:5000",
            # Polls of pending purchases would ask Stripe every 3 s; the pending purchases
            # polled here were "just checked" and this keeps them from asking again.
            "STATUS_CHECK_SECONDS": "1000000000",
            "INSTANCE_PATH": str(self.tmp / "instance"),
            "REDIS_URL": "",  # rate limits in memory://
            "RATELIMIT_STORAGE_URI": "memory://",
            "MAIL_SERVER": "",  # receipts are logged, not sent
            "FLASK_DEBUG": "0",
        }

    def in_process_app(self, database_url: str):
        """An app object configured exactly as the servers are, on the same database."""
        from app import create_app
        from app.config import load_config

        env = self.app_env(database_url)
        config = load_config(env, Path(env["INSTANCE_PATH"]))
        app = create_app(
            {**config, "INSTANCE_PATH": env["INSTANCE_PATH"], "MAIL_BACKGROUND": False}
        )
        self.apps.append(app)
        return app

    def new_database(self, name: str, template: str | None = None) -> str:
        from .data import create_database

        full = f"{self.db_prefix}_{name}"
        url = create_database(
            self.pg_server, full, f"{self.db_prefix}_{template}" if template else None
        )
        self.databases.append(full)
        return url

    def start(self, name: str, wsgi: str, env: dict[str, str], health: str = "/healthz") -> Server:
        if self.mode.workers:
            env = {"GUNICORN_WORKERS": str(self.mode.workers), **env}
        server = Server(name, wsgi, env, self.log_dir, app_root=self.app_root, health_path=health)
        self.servers.append(server)
        server.wait_ready()
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def cleanup(self) -> None:
        from .data import drop_database

        for server in list(self.servers):
            server.stop()
        for app in self.apps:
            try:
                from app.extensions import db

                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"could not dispose an app: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not os.environ.get("BENCH_KEEP_DATABASES"):
            for name in self.databases:
                try:
                    drop_database(self.pg_server, name)
                except Exception as exc:  # noqa: BLE001 - cleanup goes on
                    log(f"could not drop database {name}: {exc}")

    # -- measuring ------------------------------------------------------------------------

    def wanted(self, phase: str) -> bool:
        return self.only is None or phase in self.only

    def measure_bare(self, seconds: int, **kwargs) -> float:
        """Measure the bare endpoint with the same wrk settings as the load it is compared to."""
        from .load import get_paths

        assert self.bare is not None
        result = get_paths(
            self.bare.base, [("/bare", {})], self.tmp / "bare.txt", self.mode, seconds, **kwargs
        )
        if result.status_5xx or result.status_other:
            raise BenchFailure(f"the bare endpoint answered errors: {result.as_dict()}")
        return result.rps

    def alternate(
        self, label: str, load: Callable[[int], dict[str, Result]], **bare_kwargs
    ) -> tuple[dict[str, Result], dict[str, float]]:
        """Run a phase in rounds that alternate with the bare endpoint: bare, load, bare, load,
        ..., bare. Each round's ratio is the load's rate over the mean of the bare rates just
        before and just after it, and the phase's ratio is the median round, so a slower or
        faster minute of the shared machine moves one round, not the figure.

        `load(i)` runs round i for `mode.round_seconds` and returns its wrk results by name;
        the rate of a result that counts answers is its counted rate.
        """
        mode = self.mode
        bare = [self.measure_bare(mode.round_seconds, **bare_kwargs)]
        rounds: dict[str, list[Result]] = {}
        ratios: dict[str, list[float]] = {}
        for i in range(mode.rounds):
            for name, result in load(i).items():
                rounds.setdefault(name, []).append(result)
            bare.append(self.measure_bare(mode.round_seconds, **bare_kwargs))
            baseline = (bare[-2] + bare[-1]) / 2
            for name, results in rounds.items():
                ratios.setdefault(name, []).append(rate(results[-1]) / baseline)
        self.results["phases"][f"bare_{label}"] = [round(b, 1) for b in bare]
        combined = {name: combine(results) for name, results in rounds.items()}
        medians = {}
        for name, values in ratios.items():
            medians[name] = statistics.median(values)
            self.results["phases"][name] = {
                **combined[name].as_dict(),
                "round_ratios": [round(v, 4) for v in values],
            }
            log(
                f"{name}: {rate(combined[name]):,.0f}/s; rounds "
                + ", ".join(f"{v:.3f}" for v in values)
                + f" x bare (bare {', '.join(f'{b:,.0f}' for b in bare)} req/s): "
                + f"median {medians[name]:.3f}"
            )
        return combined, medians

    def events_needed(self, share: float = 1.0) -> int:
        """Distinct events to prepare for a fulfilment phase: more than it can use (sized from
        a short bare measurement, as no fulfilment comes near the bare rate)."""
        mode = self.mode
        estimate = self.measure_bare(1)
        seconds = mode.round_seconds * mode.rounds
        return max(mode.min_events, int(estimate * seconds * mode.event_factor * share))

    def post_round(
        self,
        server: Server,
        signed: list,
        name: str,
        *,
        again: bool = False,
        path: str | None = None,
        **kwargs,
    ) -> Result:
        """POST a round's share of distinct signed events once each, counting "credited"; or,
        `again`, events already delivered, in a loop for the round, counting "duplicate"."""
        from .events import WEBHOOK_PATH
        from .load import post_bodies

        mode = self.mode
        return post_bodies(
            server.base,
            path or WEBHOOK_PATH,
            signed,
            self.tmp / f"{name}.txt",
            mode,
            mode.round_seconds,
            wrap=again,
            expect='"duplicate"' if again else '"credited"',
            **kwargs,
        )

    def get_round(self, server: Server, lines: list, name: str) -> Result:
        from .load import get_paths

        mode = self.mode
        return get_paths(server.base, lines, self.tmp / f"{name}.txt", mode, mode.round_seconds)

    def check_ledger(self, phase: str, env: dict[str, str], database_url: str) -> None:
        """`flask credits verify-ledger` must pass and grants must match paid purchases exactly.

        The command runs in-process through Flask's CLI runner (the same command, without a
        second interpreter start-up per check).
        """
        problems = []
        app = self.app_for(database_url)
        result = app.test_cli_runner().invoke(args=["credits", "verify-ledger"])
        if result.exit_code != 0 or "ledger ok" not in result.output:
            problems.append(
                f"verify-ledger exit {result.exit_code}: {result.output.strip()[-1500:]}"
            )
        granted = grants_vs_paid(database_url)
        problems.extend(granted["problems"])
        check = {"phase": phase, "ok": not problems, **granted}
        check["problems"] = problems
        self.results["ledger_checks"].append(check)
        if problems:
            self.results["ledger_ok"] = False
            for problem in problems:
                log(f"LEDGER CHECK FAILED after {phase}: {problem}")
            raise BenchFailure(f"ledger check failed after {phase}")
        log(
            f"ledger ok after {phase}: {granted['paid_purchases']:,} paid purchases, "
            f"{granted['grants']:,} grants, {granted['entries']:,} entries"
        )

    def prepare_schema(self, database_url: str) -> None:
        """`flask db upgrade` (the migrations) and `flask credits seed-packages`, in-process."""
        app = self.app_for(database_url)
        runner = app.test_cli_runner()
        for args in (["db", "upgrade"], ["credits", "seed-packages"]):
            result = runner.invoke(args=args)
            if result.exit_code != 0:
                raise BenchFailure(f"flask {' '.join(args)} failed: {result.output}")
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # no connection may stay open on a template database

    def app_for(self, database_url: str):
        """The in-process app of a database, made once."""
        if database_url not in self.apps_by_url:
            self.apps_by_url[database_url] = self.in_process_app(database_url)
        return self.apps_by_url[database_url]

    def check_server_log(self, server: Server, phase: str) -> None:
        text = server.log_text()
        locked = text.count("database is locked")
        tracebacks = text.count("Traceback (most recent call last)")
        self.results["phases"].setdefault(f"log_{phase}", {}).update(
            database_locked=locked, tracebacks=tracebacks
        )
        if locked:
            raise BenchFailure(
                f"{phase}: 'database is locked' {locked} time(s) in {server.log_path}"
            )
        if tracebacks:
            raise BenchFailure(f"{phase}: {tracebacks} traceback(s) in {server.log_path}")

    @staticmethod
    def require_clean(phase: str, result, *, allow_other: bool = False) -> None:
        if result.status_5xx:
            raise BenchFailure(f"{phase}: {result.status_5xx} answers were 5xx")
        if result.status_other and not allow_other:
            raise BenchFailure(f"{phase}: {result.status_other} answers were not 200/204")

    # -- phases ---------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        log(f"mode {self.mode.name}; logs in {self.log_dir}")
        self.bare = self.start("bare", "benchmarks.bare_app:app", {}, health="/bare")
        need_pg = any(self.wanted(p) for p in ("fulfil", "replay", "poll", "flat"))
        if need_pg:
            template = self.new_database("tpl")
            self.prepare_schema(template)
        if any(self.wanted(p) for p in ("fulfil", "replay", "poll")):
            self.postgres_phases()
        if self.wanted("sqlite"):
            self.sqlite_phase()
        if self.wanted("flat"):
            self.flat_phase()
        self.results["duration_s"] = round(time.monotonic() - started, 1)

    def postgres_phases(self) -> None:
        from .data import pending_purchases
        from .events import REDELIVERY_PATH, event_bodies, session_template, sign_all

        mode = self.mode
        url = self.new_database("main", template="tpl")
        env = self.app_env(url)
        server = self.start("app_postgres", "wsgi:app", env)
        app = self.app_for(url)
        template, kind = session_template()
        self.results["info"]["event_session"] = kind
        # The full run measures the minimal Core handlers (reference_app.py) in the same
        # rounds, each right after the app's load, on their own copy of the database.
        ref = self.start_reference(template) if mode.extras else None

        # fulfil: distinct signed events for distinct pending purchases.
        count = self.events_needed()
        purchases = pending_purchases(url, count, seed=11, checked=True)
        pending_polled = pending_purchases(url, mode.poll_users, seed=12, checked=True)
        self.check_ledger("load_pending", env, url)
        bodies = event_bodies(template, purchases)
        self.results["info"]["event_bytes"] = len(bodies[0])
        log(f"fulfil: {count:,} signed events for {count:,} pending purchases")
        parts = chunks(sign_all(bodies, self.webhook_secret), mode.rounds)
        if ref:
            ref.parts = chunks(sign_all(ref.bodies, self.webhook_secret), mode.rounds)

        def fulfil_round(i: int) -> dict[str, Result]:
            def app_load() -> Result:
                result = self.post_round(server, parts[i], "events")
                wait_quiet(server)  # the receipts' background send, before the next load
                return result

            loads = {"fulfil": app_load}
            if ref:
                loads["reference_fulfil"] = lambda: self.post_round(ref.server, ref.parts[i], "ref")
            return self.paired(i, loads)

        results, ratios = self.alternate("fulfil", fulfil_round)
        self.results["phases"]["fulfil"]["events_prepared"] = count
        for name, result in results.items():
            self.require_clean(name, result)
            require_credited(name, result)
        self.results["ratios"]["fulfil"] = ratios["fulfil"]
        self.check_ledger("fulfil", env, url)
        self.check_server_log(server, "fulfil")
        if ref:
            self.check_ledger("reference_fulfil", ref.env, ref.url)
            self.reference_ratio("fulfil", ratios)

        # replay: the events that were delivered, delivered again (signed anew, same bodies).
        if self.wanted("replay"):
            before = ledger_counts(url)
            ref_before = ledger_counts(ref.url) if ref else None
            signed = self.redeliveries(url, bodies)
            ref_signed = self.redeliveries(ref.url, ref.bodies) if ref else []

            def replay_round(i: int) -> dict[str, Result]:
                loads = {"replay": lambda: self.post_round(server, signed, "replay", again=True)}
                if ref:
                    loads["reference_replay"] = lambda: self.post_round(
                        ref.server, ref_signed, "ref_replay", again=True, path=REDELIVERY_PATH
                    )
                return self.paired(i, loads)

            results, ratios = self.alternate("replay", replay_round)
            self.results["phases"]["replay"]["events"] = len(signed)
            for name, result in results.items():
                self.require_clean(name, result)
                if result.counted != result.requests:
                    raise BenchFailure(f"{name}: some redeliveries were not answered duplicate")
            if ledger_counts(url) != before:
                raise BenchFailure(f"replay wrote to the ledger: {before} -> {ledger_counts(url)}")
            if ref and ledger_counts(ref.url) != ref_before:
                raise BenchFailure("reference_replay wrote to the ledger")
            self.results["ratios"]["replay"] = ratios["replay"]
            self.results["phases"]["replay"]["new_ledger_entries"] = 0
            self.check_ledger("replay", env, url)
            self.check_server_log(server, "replay")
            if ref:
                self.reference_ratio("replay", ratios)

        # poll: logged-in buyers polling their own completed purchase's status partial.
        if self.wanted("poll"):
            public_ids = [p["public_id"] for p in purchases]
            lines = poll_lines(app, completed_owners(url, public_ids, mode.poll_users))
            expect_answer(server.base, *lines[0], status=200, contains="purchase-status")
            if ref:
                owners = completed_owners(ref.url, ref.public_ids, mode.poll_users)
                ref_lines = poll_lines(ref.app, owners)
                expect_answer(ref.server.base, *ref_lines[0], status=200, contains="Completed")

            def poll_round(i: int) -> dict[str, Result]:
                loads = {"poll": lambda: self.get_round(server, lines, "poll")}
                if ref:
                    loads["reference_poll"] = lambda: self.get_round(ref.server, ref_lines, "ref")
                return self.paired(i, loads)

            results, ratios = self.alternate("poll", poll_round)
            self.results["phases"]["poll"]["users"] = len(lines)
            for name, result in results.items():
                self.require_clean(name, result)
            self.results["ratios"]["poll"] = ratios["poll"]
            if ref:
                self.reference_ratio("poll", ratios)

        if self.wanted("poll") and mode.extras:
            # Informational: polls of purchases still pending, answered 204 "nothing new".
            owners = [(p["user_id"], p["public_id"]) for p in pending_polled]
            lines = poll_lines(app, owners, "?seen=pending")
            expect_answer(server.base, *lines[0], status=204)
            results, ratios = self.alternate(
                "poll_pending",
                lambda _: {"poll_pending": self.get_round(server, lines, "poll_pending")},
            )
            self.results["phases"]["poll_pending"]["users"] = len(lines)
            self.require_clean("poll_pending", results["poll_pending"])
            self.results["info"]["poll_pending_ratio"] = round(ratios["poll_pending"], 4)
        if self.wanted("poll"):
            self.check_ledger("poll", env, url)
            self.check_server_log(server, "poll")
        if ref:
            self.check_ledger("reference", ref.env, ref.url)
            self.check_server_log(ref.server, "reference")
            self.stop(ref.server)
        self.stop(server)

    def start_reference(self, template: dict) -> Reference:
        """Start the minimal Core handlers (`reference_app.py`) on their own copy of the
        database, with their own distinct events for the same kind of pending purchases (signed
        beside the app's, just before the phase)."""
        from .data import pending_purchases
        from .events import event_bodies

        url = self.new_database("reference", template="tpl")
        env = self.app_env(url)
        server = self.start("reference", "benchmarks.reference_app:app", env)
        purchases = pending_purchases(url, self.events_needed(), seed=13, checked=True)
        bodies = event_bodies(template, purchases)
        public_ids = [p["public_id"] for p in purchases]
        return Reference(server, url, env, self.app_for(url), bodies, public_ids)

    def reference_ratio(self, name: str, ratios: dict[str, float]) -> None:
        """Record a reference handler's ratio and how much of its rate the app reached."""
        ratio = ratios[f"reference_{name}"]
        phases = self.results["phases"]
        pairs = zip(
            phases[name]["round_ratios"], phases[f"reference_{name}"]["round_ratios"], strict=True
        )
        # Per round the two loads share their bare windows, which then cancel out.
        share = statistics.median(app / reference for app, reference in pairs)
        self.results["info"][f"reference_{name}_ratio"] = round(ratio, 4)
        self.results["info"][f"{name}_of_reference"] = round(share, 3)
        log(f"{name} reached {share:.0%} of the reference's rate (median of the rounds)")

    def redeliveries(self, database_url: str, bodies: list[str]) -> list:
        """The delivered events among `bodies`, signed anew for delivery again."""
        from .events import sign_all

        delivered = recorded_event_ids(database_url)
        again = [b for b in bodies if json.loads(b)["id"] in delivered]
        return sign_all(again, self.webhook_secret)

    def paired(self, i: int, loads: dict[str, Callable[[], Result]]) -> dict[str, Result]:
        """Run a round's loads one after another, the app's and its reference's: in reverse
        order in odd rounds, so neither always comes straight after a bare window."""
        names = list(loads)[::-1] if i % 2 else list(loads)
        return {name: loads[name]() for name in names}

    def sqlite_phase(self) -> None:
        from .data import pending_purchases
        from .events import WEBHOOK_PATH, event_bodies, session_template, sign_all
        from .load import get_paths

        mode = self.mode
        url = f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        env = self.app_env(url)
        self.prepare_schema(url)
        # Two workers, as the SQLite phase is specified (the config's default is four).
        workers = {"GUNICORN_WORKERS": str(SQLITE_WORKERS)}
        server = self.start("app_sqlite", "wsgi:app", {**env, **workers})
        app = self.app_for(url)
        template, _ = session_template()

        # The buyers who poll have a completed purchase: delivered one by one first.
        pollers = pending_purchases(url, mode.poll_users, seed=21, checked=True)
        for signature, payload in sign_all(event_bodies(template, pollers), self.webhook_secret):
            status, answer = post(server.base + WEBHOOK_PATH, payload, signature)
            if status != 200 or '"credited"' not in answer:
                raise BenchFailure(f"sqlite: priming delivery answered {status} {answer}")
        lines = poll_lines(app, [(p["user_id"], p["public_id"]) for p in pollers])
        count = self.events_needed(0.5)
        purchases = pending_purchases(url, count, seed=22, checked=True)
        self.check_ledger("sqlite_load", env, url)
        signed = sign_all(event_bodies(template, purchases), self.webhook_secret)
        parts = chunks(signed, mode.rounds)
        half = max(1, mode.connections // 2)

        def sqlite_round(i: int) -> dict[str, Result]:
            outcome: dict[str, Result] = {}

            def fulfil_load() -> None:
                outcome["sqlite_fulfil"] = self.post_round(
                    server, parts[i], "sqlite-events", connections=half, threads=1
                )

            def poll_load() -> None:
                outcome["sqlite_poll"] = get_paths(
                    server.base,
                    lines,
                    self.tmp / "sqlite-poll.txt",
                    mode,
                    mode.round_seconds,
                    connections=half,
                    threads=1,
                )

            run_together([fulfil_load, poll_load])
            return outcome

        results, ratios = self.alternate("sqlite", sqlite_round)
        fulfil, poll = results["sqlite_fulfil"], results["sqlite_poll"]
        self.results["phases"]["sqlite_fulfil"]["events_prepared"] = count
        self.results["phases"]["sqlite_poll"]["users"] = len(lines)
        self.results["ratios"]["sqlite_fulfil"] = ratios["sqlite_fulfil"]
        self.results["ratios"]["sqlite_poll"] = ratios["sqlite_poll"]
        self.require_clean("sqlite_fulfil", fulfil)
        self.require_clean("sqlite_poll", poll)
        require_credited("sqlite_fulfil", fulfil)
        wait_quiet(server)
        self.check_server_log(server, "sqlite")
        self.check_ledger("sqlite", env, url)
        self.stop(server)

    def flat_phase(self) -> None:
        from .data import flat_bulk, flat_small
        from .load import get_paths

        mode = self.mode
        small_url = self.new_database("small", template="tpl")
        large_url = self.new_database("large", template="tpl")
        small = flat_small(small_url, mode.small_entries)
        large = flat_small(large_url, mode.small_entries)
        if [b.purchases for b in small.buyers] != [b.purchases for b in large.buyers]:
            raise BenchFailure("flat: the small data set differs between the two databases")
        log(
            f"flat: small data set {small.purchases:,} purchases, {small.entries:,} entries; "
            "loading the large one"
        )
        started = time.monotonic()
        purchases, entries = flat_bulk(
            large_url,
            mode.large_purchases - small.purchases,
            mode.large_entries - small.entries,
        )
        load_seconds = time.monotonic() - started
        sizes = {"small": table_sizes(small_url), "large": table_sizes(large_url)}
        self.results["flat_sizes"] = {**sizes, "load_seconds": round(load_seconds, 1)}
        log(f"flat: large data set {sizes['large']} (bulk load {load_seconds:.0f} s)")
        envs = {"small": self.app_env(small_url), "large": self.app_env(large_url)}
        urls = {"small": small_url, "large": large_url}
        for size in ("small", "large"):
            self.check_ledger(f"flat_load_{size}", envs[size], urls[size])
        servers = {size: self.start(f"app_flat_{size}", "wsgi:app", envs[size]) for size in envs}
        apps = {size: self.app_for(urls[size]) for size in envs}
        auth = {size: flat_auth(apps[size], small) for size in envs}
        cursors = {size: deep_cursor(urls[size]) for size in envs}
        self.results["flat_sizes"]["deep_page_offset"] = {s: cursors[s][1] for s in cursors}

        reads = {**FLAT_READS, **(FLAT_EXTRA_READS if mode.extras else {})}
        if mode.extras:
            for name, (template, kind) in FLAT_PAGE_READS.items():
                answers = {
                    size: status_of(servers[size].base, template, auth[size][kind][0])
                    for size in servers
                }
                if set(answers.values()) == {200}:
                    reads[name] = (template, kind)
                else:
                    self.results["info"].setdefault("skipped_reads", {})[name] = answers
                    log(f"flat {name}: skipped, {template} answered {answers}")
        flat: dict[str, Any] = {}
        for name, (template, kind) in reads.items():
            lines = {}
            for size in ("small", "large"):
                lines[size] = [
                    (
                        template.format(public_id=buyer.purchases[-1], cursor=cursors[size][0]),
                        auth[size][kind][i],
                    )
                    for i, buyer in enumerate(small.buyers)
                ]
                extra = {"HX-Request": "true"} if name == "poll" else {}
                lines[size] = [(p, {**h, **extra}) for p, h in lines[size]]
                expect_answer(servers[size].base, *lines[size][0], status=200)
            rps: dict[str, list[float]] = {"small": [], "large": []}
            for size in ("small", "large"):
                # Warm both servers on this read first (connections, prepared statements).
                get_paths(
                    servers[size].base,
                    lines[size],
                    self.tmp / f"flat-{name}.txt",
                    mode,
                    1,
                )
            rounds = []
            for _ in range(mode.flat_rounds):
                measured: dict[str, list[float]] = {"small": [], "large": []}
                for size in mode.flat_order:
                    result = get_paths(
                        servers[size].base,
                        lines[size],
                        self.tmp / f"flat-{name}.txt",
                        mode,
                        mode.flat_seconds,
                    )
                    self.require_clean(f"flat {name} ({size})", result)
                    measured[size].append(result.rps)
                    rps[size].append(result.rps)
                small_rps, large_rps = measured["small"], measured["large"]
                rounds.append(statistics.mean(small_rps) / statistics.mean(large_rps))
            # The median round: one round caught by a hiccup of the shared machine moves nothing.
            cost = statistics.median(rounds)
            flat[name] = {
                "cost_ratio": round(cost, 3),
                "rounds": [round(r, 3) for r in rounds],
                "rps_small": round(statistics.mean(rps["small"]), 1),
                "rps_large": round(statistics.mean(rps["large"]), 1),
                "held_to_limit": name in FLAT_READS,
                "url": template,
            }
            log(
                f"flat {name}: {flat[name]['rps_small']:,.0f} req/s small, "
                f"{flat[name]['rps_large']:,.0f} large: cost x{cost:.2f} "
                f"(median of {flat[name]['rounds']})"
            )
        self.results["flat"] = flat
        self.results["info"]["totals"] = totals_cost(apps)
        log(f"flat totals (reported, not held flat): {self.results['info']['totals']}")
        self.results["csv"] = csv_memory(servers["large"], auth["large"]["admin_cookie"][0])
        log(
            f"csv: {self.results['csv']['rows']:,} rows, {self.results['csv']['megabytes']:.1f} MB,"
            f" worker peak memory growth {self.results['csv']['peak_growth_mb']:.1f} MB"
        )
        for size in ("small", "large"):
            self.check_server_log(servers[size], f"flat_{size}")
            self.check_ledger(f"flat_{size}", envs[size], urls[size])
            self.stop(servers[size])


# -- helpers that talk to the servers and databases ----------------------------------------


def rate(result: Result) -> float:
    """A result's rate: its counted answers per second when it counts them, else requests."""
    return result.counted_rps if result.counted is not None else result.rps


def combine(results: list[Result]) -> Result:
    """The rounds of one load as one result: totals, the median p50 and the worst p99."""
    counted = [r.counted for r in results]
    return Result(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        status_5xx=sum(r.status_5xx for r in results),
        status_other=sum(r.status_other for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        counted=None if None in counted else sum(counted),
        exhausted=any(r.exhausted for r in results),
    )


def chunks(items: list, n: int) -> list[list]:
    """Split items into n consecutive, nearly equal parts."""
    size, extra = divmod(len(items), n)
    bounds = [i * size + min(i, extra) for i in range(n + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(n)]


def connect(database_url: str):
    if database_url.startswith("postgresql"):
        import psycopg

        from .data import psycopg_url

        return psycopg.connect(psycopg_url(database_url))
    import sqlite3

    return sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=60)


def query(database_url: str, sql: str, params: tuple = ()) -> list:
    conn = connect(database_url)
    try:
        if not database_url.startswith("postgresql"):
            sql = sql.replace("%s", "?")
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def grants_vs_paid(database_url: str) -> dict[str, Any]:
    """Compare what the ledger granted with the purchases that were paid."""
    from app.models import PAID_STATUSES

    paid = ", ".join(f"'{s.value}'" for s in PAID_STATUSES)
    ((paid_count, paid_credits),) = query(
        database_url,
        f"SELECT count(*), coalesce(sum(credits), 0) FROM purchases WHERE status IN ({paid})",  # noqa: S608
    )
    ((grants, granted),) = query(
        database_url,
        "SELECT count(DISTINCT t.id), coalesce(sum(e.amount), 0) FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id "
        "JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE t.kind = 'grant' AND a.user_id IS NOT NULL",
    )
    ((ungranted,),) = query(
        database_url,
        f"SELECT count(*) FROM purchases p WHERE p.status IN ({paid}) AND NOT EXISTS "  # noqa: S608
        "(SELECT 1 FROM ledger_transactions t WHERE t.purchase_id = p.id AND t.kind = 'grant')",
    )
    ((unpaid_granted,),) = query(
        database_url,
        f"SELECT count(*) FROM ledger_transactions t JOIN purchases p ON p.id = t.purchase_id "  # noqa: S608
        f"WHERE t.kind = 'grant' AND p.status NOT IN ({paid})",
    )
    ((entries,),) = query(database_url, "SELECT count(*) FROM ledger_entries")
    problems = []
    if int(paid_count) != int(grants) or int(paid_credits) != int(granted):
        problems.append(
            f"{paid_count} paid purchases of {paid_credits} credits, but {grants} grants of "
            f"{granted} credits"
        )
    if ungranted:
        problems.append(f"{ungranted} paid purchases have no grant")
    if unpaid_granted:
        problems.append(f"{unpaid_granted} grants belong to purchases that are not paid")
    return {
        "paid_purchases": int(paid_count),
        "paid_credits": int(paid_credits),
        "grants": int(grants),
        "granted_credits": int(granted),
        "entries": int(entries),
        "problems": problems,
    }


@dataclass
class Reference:
    """The reference handlers' server and what their phases send."""

    server: Server
    url: str
    env: dict[str, str]
    app: Any  # the app on the reference's database, for log-in cookies
    bodies: list[str]
    public_ids: list[str]
    parts: list[list] = field(default_factory=list)  # the bodies signed, a share per round


def poll_lines(app, owners: list[tuple], query: str = "") -> list[tuple]:
    """Status-partial requests of logged-in buyers, each for their own purchase."""
    return [
        (
            f"/credits/purchase/{public_id}/status{query}",
            {"Cookie": f"session={session_cookie(app, user_id)}", "HX-Request": "true"},
        )
        for user_id, public_id in owners
    ]


def require_credited(name: str, result: Result) -> None:
    """Every delivery of a fulfilment load must have credited a purchase."""
    if result.exhausted:
        raise BenchFailure(f"{name} ran out of distinct events: raise event_factor")
    if result.counted != result.requests:
        raise BenchFailure(f"{name}: {result.requests - result.counted} deliveries did not credit")


def ledger_counts(database_url: str) -> tuple[int, int, int]:
    (row,) = query(
        database_url,
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_transactions),"
        " (SELECT count(*) FROM stripe_events)",
    )
    return tuple(int(v) for v in row)


def recorded_event_ids(database_url: str) -> set[str]:
    return {row[0] for row in query(database_url, "SELECT event_id FROM stripe_events")}


def completed_owners(database_url: str, public_ids: list[str], limit: int) -> list[tuple]:
    wanted = set(public_ids)
    rows = query(
        database_url,
        "SELECT user_id, public_id FROM purchases WHERE status = 'completed' ORDER BY id",
    )
    found = [(u, p) for u, p in rows if p in wanted][:limit]
    if len(found) < min(limit, 1):
        raise BenchFailure("no completed purchases to poll")
    return found


def table_sizes(database_url: str) -> dict[str, int]:
    (row,) = query(
        database_url,
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM purchases), "
        "(SELECT count(*) FROM users)",
    )
    return {"ledger_entries": int(row[0]), "purchases": int(row[1]), "users": int(row[2])}


def deep_cursor(database_url: str) -> tuple[str, int]:
    """A cursor three quarters deep into the completed purchases, newest first."""
    from app.db import encode_cursor

    ((count,),) = query(database_url, "SELECT count(*) FROM purchases WHERE status = 'completed'")
    offset = int(count * 0.75)
    ((row_id,),) = query(
        database_url,
        "SELECT id FROM purchases WHERE status = 'completed' ORDER BY id DESC OFFSET %s LIMIT 1",
        (offset,),
    )
    return encode_cursor(row_id), offset


def session_cookie(app, user_id: int) -> str:
    """The signed session cookie a real log-in from the benchmark's wrk would carry."""
    from flask import session
    from flask_login import login_user

    from app.extensions import db
    from app.models import User

    with app.test_request_context(
        "/", headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ):
        login_user(db.session.get(User, user_id))
        value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        db.session.remove()
    return value


def bearer_token(app, user_id: int) -> str:
    from app.domain.users import issue_token
    from app.extensions import db
    from app.models import User

    with app.app_context():
        token = issue_token(db.session.get(User, user_id), "benchmark")
        db.session.remove()
    return token


def flat_auth(app, data) -> dict[str, list[dict[str, str]]]:
    """Per buyer (and for the admin, once per buyer slot): header sets for each auth kind."""
    cookies = [f"session={session_cookie(app, b.user_id)}" for b in data.buyers]
    tokens = [bearer_token(app, b.user_id) for b in data.buyers]
    admin_cookie = f"session={session_cookie(app, data.admin.user_id)}"
    admin_token = bearer_token(app, data.admin.user_id)
    n = len(data.buyers)
    return {
        "cookie": [{"Cookie": c} for c in cookies],
        "token": [{"Authorization": f"Bearer {t}"} for t in tokens],
        "admin_cookie": [{"Cookie": admin_cookie}] * n,
        "admin_token": [{"Authorization": f"Bearer {admin_token}"}] * n,
    }


def totals_cost(apps: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    """Time the admin totals and daily chart over every completed purchase, small vs large.

    The admin list page shows these; they read the whole filtered set, so they grow with it.
    """
    from app.domain.purchases import PurchaseFilter
    from app.domain.reports import daily_net, totals
    from app.extensions import db

    seconds = {}
    for size, app in apps.items():
        runs = []
        with app.app_context():
            for _ in range(repeat):
                started = time.perf_counter()
                totals(PurchaseFilter(status="completed"))
                daily_net(PurchaseFilter(status="completed"))
                runs.append(time.perf_counter() - started)
            db.session.remove()
        seconds[size] = statistics.median(runs)
    return {
        "cost_ratio": round(seconds["large"] / seconds["small"], 1),
        "held_to_limit": False,
        "note": "in-process median of totals() + daily_net() for status=completed",
    }


def csv_memory(server: Server, admin_headers: dict[str, str]) -> dict[str, Any]:
    """Stream every purchase as CSV and watch the gunicorn workers' peak RSS while it runs."""
    workers = server.workers()
    before = {}
    for pid in workers:
        reset_peak(pid)
        before[pid] = proc_status_kb(pid, "VmRSS") or 0
    peak = dict(before)

    def sample() -> None:
        for pid in workers:
            hwm = proc_status_kb(pid, "VmHWM")
            if hwm is not None:
                peak[pid] = max(peak[pid], hwm)

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    started = time.monotonic()
    conn.request(
        "GET",
        "/admin/credits/purchases.csv",
        headers={"User-Agent": USER_AGENT, **admin_headers},
    )
    response = conn.getresponse()
    if response.status != 200:
        raise BenchFailure(f"csv export answered {response.status}")
    size = rows = 0
    since_sample = 0
    while True:
        chunk = response.read(65536)
        if not chunk:
            break
        size += len(chunk)
        rows += chunk.count(b"\n")
        since_sample += len(chunk)
        if since_sample >= 1 << 20:
            sample()
            since_sample = 0
    sample()
    conn.close()
    growth_kb = max(peak[pid] - before[pid] for pid in workers)
    return {
        "rows": rows - 1,
        "megabytes": round(size / 1e6, 2),
        "seconds": round(time.monotonic() - started, 2),
        "peak_growth_mb": round(growth_kb / 1024, 1),
        "limit_mb": CSV_MEMORY_LIMIT_MB,
        "workers_rss_before_mb": [round(v / 1024, 1) for v in before.values()],
        "how": "VmHWM reset (clear_refs 5) before, sampled every MB; growth over VmRSS before",
    }


def expect_answer(
    base: str, path: str, headers: dict[str, str], *, status: int, contains: str | None = None
) -> None:
    request = urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            code, body = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read().decode(errors="replace")
    if code != status or (contains and contains not in body):
        raise BenchFailure(f"GET {path} answered {code}, expected {status}: {body[:300]}")


def status_of(base: str, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - 127.0.0.1
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def post(url: str, body: str, signature: str) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_quiet(server: Server, seconds: float = 1.0) -> None:
    """Give the workers' background receipt delivery a moment before the ledger is read."""
    time.sleep(seconds)


def run_together(functions: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def runner() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        return runner

    threads = [threading.Thread(target=wrap(fn)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# -- the report -----------------------------------------------------------------------------


def gunicorn_setting(mode: Mode, app_root: Path) -> str:
    workers, threads = gunicorn_config(app_root)
    workers = mode.workers or workers
    return (
        f"gunicorn.conf.py ({workers} workers x {threads} gthreads; the SQLite phase"
        f" {SQLITE_WORKERS} workers), bind 127.0.0.1"
    )


def verdicts(results: dict[str, Any], mode: Mode) -> list[str]:
    """Every performance target missed (floors, flat, CSV memory)."""
    missed = []
    for name, floor in FLOORS.items():
        value = results["ratios"].get(name)
        if value is not None and value < floor:
            missed.append(f"{name} {value:.3f} is below its floor {floor}")
    for name, figures in results["flat"].items():
        if figures["held_to_limit"] and figures["cost_ratio"] > FLAT_LIMIT:
            missed.append(f"flat {name} costs x{figures['cost_ratio']} (limit x{FLAT_LIMIT})")
    csv = results.get("csv") or {}
    if csv and csv["peak_growth_mb"] >= CSV_MEMORY_LIMIT_MB:
        missed.append(f"csv peak memory growth {csv['peak_growth_mb']} MB >= {CSV_MEMORY_LIMIT_MB}")
    return missed


def table(results: dict[str, Any]) -> str:
    rows = [("metric", "value", "floor/limit", "aim", "status")]
    for name, value in results["ratios"].items():
        floor = FLOORS.get(name)
        status = "-" if floor is None else ("ok" if value >= floor else "BELOW FLOOR")
        rows.append(
            (
                f"ratio {name}",
                f"{value:.3f}",
                "-" if floor is None else f">= {floor}",
                str(AIMS.get(name, "-")),
                status,
            )
        )
    info = results.get("info", {})
    for name in ("fulfil", "replay", "poll"):
        if f"reference_{name}_ratio" in info:
            share = info[f"{name}_of_reference"]
            rows.append(
                (
                    f"ratio reference_{name} (Core)",
                    f"{info[f'reference_{name}_ratio']:.3f}",
                    "-",
                    "-",
                    f"info: {name} = {share:.0%} of it",
                )
            )
    if "poll_pending_ratio" in info:
        rows.append(
            ("ratio poll_pending (204)", f"{info['poll_pending_ratio']:.3f}", "-", "-", "info")
        )
    for name, figures in results["flat"].items():
        held = figures["held_to_limit"]
        ok = figures["cost_ratio"] <= FLAT_LIMIT
        rows.append(
            (
                f"flat {name}",
                f"x{figures['cost_ratio']:.2f}",
                f"<= x{FLAT_LIMIT}" if held else "-",
                "-",
                ("ok" if ok else "OVER LIMIT") if held else "info",
            )
        )
    if "totals" in info:
        rows.append(("flat totals+chart", f"x{info['totals']['cost_ratio']}", "-", "-", "info"))
    csv = results.get("csv") or {}
    if csv:
        ok = csv["peak_growth_mb"] < CSV_MEMORY_LIMIT_MB
        rows.append(
            (
                f"csv {csv['rows']:,} rows peak growth",
                f"{csv['peak_growth_mb']:.1f} MB",
                f"< {CSV_MEMORY_LIMIT_MB:.0f} MB",
                "-",
                "ok" if ok else "OVER LIMIT",
            )
        )
    rows.append(("ledger", "ok" if results["ledger_ok"] else "FAILED", "ok", "-", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    mode = SMOKE if args.smoke else FULL
    only = set(args.only.split(",")) if args.only else None
    if only and only & {"replay", "poll"}:
        only.add("fulfil")  # replay and poll use what fulfil delivered
    app_root = Path(args.app_root).resolve()
    sys.path.insert(0, str(app_root))

    run = Run(mode, app_root, only)
    run.results["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    run.results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "app_root": str(app_root),
    }
    run.results["settings"] = {
        "wrk_threads": mode.threads,
        "wrk_connections": mode.connections,
        "rounds": mode.rounds,
        "round_seconds": mode.round_seconds,
        "flat_seconds": mode.flat_seconds,
        "flat_order": list(mode.flat_order),
        "max_requests_per_thread": mode.max_requests,
        "gunicorn": gunicorn_setting(mode, app_root),
    }
    failure = None
    try:
        run.run()
    except BenchFailure as exc:
        failure = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails
        failure = f"{type(exc).__name__}: {exc}"
        import traceback

        traceback.print_exc()
    finally:
        run.cleanup()
    results = run.results
    if failure:
        results["errors"].append(failure)
    results["ratios"] = {k: round(v, 4) for k, v in results["ratios"].items()}
    missed = verdicts(results, mode)
    results["missed"] = missed
    results["ok"] = not failure and results["ledger_ok"] and not (mode.enforce_floors and missed)
    output = Path(args.output) if args.output else RESULTS / mode.results_file
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print()
    for line in missed:
        print(
            ("MISSED: " if mode.enforce_floors else "below target (smoke, not enforced): ") + line
        )
    if failure:
        print(f"FAILED: {failure}")
    print(f"results: {output}")
    return 0 if results["ok"] else 1
