"""What one benchmark run owns: its settings, databases, servers and in-process apps, and the
results it gathers; `cleanup()` takes everything down again."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from app import create_app
from app.config import load_config
from app.extensions import db

from .config import AIMS, FLAT_LIMIT, FLOORS, RESULTS, Mode
from .data import create_database, database_name, drop_database
from .servers import Server

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


class BenchFailure(RuntimeError):
    """Something the benchmark checks for correctness went wrong."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def empty_results(mode: Mode) -> dict[str, Any]:
    """The JSON a run fills in (README, *What runs*, names its keys)."""
    return {
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


class Run:
    """One run of the benchmark in one mode, against the app served from `app_root`."""

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
        default = f"{DEFAULT_SERVER}/credits_bench_{os.getpid()}"
        self.pg_server = os.environ.get("BENCH_DATABASE_URL") or default
        self.db_prefix = database_name(self.pg_server) or f"credits_bench_{os.getpid()}"
        self.databases: list[str] = []
        self.servers: list[Server] = []
        self.apps_by_url: dict[str, Any] = {}
        self.bare: Server | None = None
        self.results = empty_results(mode)

    def wanted(self, phase: str) -> bool:
        return self.only is None or phase in self.only

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

    def app_for(self, database_url: str):
        """The in-process app of a database, configured exactly as the servers are; made once."""
        if database_url not in self.apps_by_url:
            env = self.app_env(database_url)
            config = load_config(env, Path(env["INSTANCE_PATH"]))
            self.apps_by_url[database_url] = create_app(
                {**config, "INSTANCE_PATH": env["INSTANCE_PATH"], "MAIL_BACKGROUND": False}
            )
        return self.apps_by_url[database_url]

    def new_database(self, name: str, template: str | None = None) -> str:
        """Create `<prefix>_<name>` (a copy of `<prefix>_<template>`); return its URL."""
        full = f"{self.db_prefix}_{name}"
        source = f"{self.db_prefix}_{template}" if template else None
        url = create_database(self.pg_server, full, source)
        self.databases.append(full)
        return url

    def prepare_schema(self, database_url: str) -> None:
        """`flask db upgrade` (the migrations) and `flask credits seed-packages`, in-process."""
        app = self.app_for(database_url)
        runner = app.test_cli_runner()
        for args in (["db", "upgrade"], ["credits", "seed-packages"]):
            result = runner.invoke(args=args)
            if result.exit_code != 0:
                raise BenchFailure(f"flask {' '.join(args)} failed: {result.output}")
        dispose(app)  # no connection may stay open on a template database

    def start(self, name: str, wsgi: str, env: dict[str, str], health: str = "/healthz") -> Server:
        """Start a gunicorn server of `wsgi` and wait until it is ready."""
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
        """Stop the servers, close the apps' connections, drop the databases."""
        for server in list(self.servers):
            server.stop()
        for app in self.apps_by_url.values():
            try:
                dispose(app)
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"could not dispose an app: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if os.environ.get("BENCH_KEEP_DATABASES"):
            return
        for name in self.databases:
            try:
                drop_database(self.pg_server, name)
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log(f"could not drop database {name}: {exc}")


def dispose(app) -> None:
    """Close an in-process app's session and its engine's connections."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
