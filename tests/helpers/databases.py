"""Empty databases for one test: a SQLite file, or PostgreSQL from TEST_DATABASE_URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ENGINES = ["sqlite", "postgresql"]


def postgres_url() -> str:
    """Return TEST_DATABASE_URL, or skip (fail under CI) when it is not set."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    message = "TEST_DATABASE_URL is not set; PostgreSQL tests need a server"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


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
