"""Empty databases for one test: a SQLite file, or PostgreSQL from TEST_DATABASE_URL."""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path
from typing import IO

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, make_url, text

ENGINES = ["sqlite", "postgresql"]

# mutmut sets this in every process it runs tests in, its forked workers included.
MUTATION_RUN = "MUTANT_UNDER_TEST"
WORKER_PREFIX = "mut_"
MAX_WORKERS = 32

_worker_url: tuple[int, str] | None = None
_worker_lock: IO[str] | None = None


def postgres_url() -> str:
    """Return TEST_DATABASE_URL (a database of this process's own under mutmut), or skip."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return worker_url(url) if MUTATION_RUN in os.environ else url
    message = "TEST_DATABASE_URL is not set; PostgreSQL tests need a server"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _admin_dsn(url: str) -> str:
    """Return a libpq address of the server behind a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def worker_url(url: str) -> str:
    """Return a database for this process alone, so parallel mutant runs never share one.

    Every test resets the schema of the database it is given; two workers on one database
    would drop each other's tables mid-test. A worker claims the first free slot by a lock
    that dies with the process (POSIX record locks are not inherited by a fork), so at most
    one database per concurrent worker exists, created on first use.
    """
    global _worker_url, _worker_lock
    if _worker_url and _worker_url[0] == os.getpid():
        return _worker_url[1]
    base = make_url(url)
    for slot in range(MAX_WORKERS):
        name = f"{WORKER_PREFIX}{base.database}_{slot}"
        lock = open(Path(tempfile.gettempdir()) / f"credits-{name}.lock", "w")  # noqa: SIM115
        try:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _create_database(url, name)
        _worker_lock = lock
        _worker_url = (os.getpid(), base.set(database=name).render_as_string(hide_password=False))
        return _worker_url[1]
    raise RuntimeError(f"more than {MAX_WORKERS} processes want a PostgreSQL test database")


def _create_database(url: str, name: str) -> None:
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            # template0 accepts no connections, so concurrent copies of it never collide.
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )


def drop_worker_databases(url: str) -> list[str]:
    """Drop the per-worker databases derived from url; return their names."""
    ours = re.compile(rf"{re.escape(WORKER_PREFIX + str(make_url(url).database))}_\d+")
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database").fetchall()
        names = sorted(name for (name,) in rows if ours.fullmatch(name))
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    return names


def reset_postgres(url: str) -> None:
    """Recreate the public schema so each test starts empty."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url(engine: str, tmp_path: Path) -> str:
    """Return an empty database of the given engine for one test."""
    if engine == "postgresql":
        url = postgres_url()
        reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


if __name__ == "__main__":
    dropped = drop_worker_databases(os.environ["TEST_DATABASE_URL"])
    print(f"dropped {len(dropped)} mutation test databases: {' '.join(dropped) or '-'}")
