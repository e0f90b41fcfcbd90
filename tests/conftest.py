"""Shared fixtures: apps on SQLite (and PostgreSQL where it matters), clients, builders."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

from app import create_app
from app.extensions import db
from app.ledger import ensure_account, user_account
from app.models import User
from app.packages import seed_packages

PASSWORD = "correct-horse-battery"
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt")
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


def make_app(url: str, tmp_path: Path, create_schema: bool = True, **overrides) -> Flask:
    """Build a test app on the given database."""
    options = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        options.update(pool_size=20, max_overflow=10)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": options,
        "RATELIMIT_STORAGE_URI": "memory://",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **overrides,
    }
    app = create_app(config)
    if create_schema:
        with app.app_context():
            db.create_all()
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh SQLite file, with the standard packs seeded."""
    app = make_app(database_url("sqlite", tmp_path), tmp_path)
    with app.app_context():
        seed_packages()
    yield app
    dispose(app)


@pytest.fixture(params=ENGINES)
def db_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The same app on SQLite and on PostgreSQL, for database-sensitive tests."""
    app = make_app(database_url(request.param, tmp_path), tmp_path)
    with app.app_context():
        seed_packages()
    yield app
    dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def make_user(email: str = "buyer@example.com", *, admin: bool = False) -> User:
    """Create a user with the shared test password (hashed once per run)."""
    user = User(email=email, is_admin=admin, password_hash=PASSWORD_HASH)
    db.session.add(user)
    db.session.flush()
    ensure_account(user_account(user.id), user.id)
    db.session.commit()
    return user


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    """Pull the CSRF token out of a rendered page (every page carries it for htmx)."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


class Auth:
    """Log test clients in and out."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self) -> str:
        """Return a CSRF token valid for this client's session."""
        return csrf_from(self.client.get("/login", follow_redirects=True).get_data(as_text=True))

    def login(
        self,
        email: str = "buyer@example.com",
        password: str = PASSWORD,
        next_url: str | None = None,
    ):
        token = self.csrf()
        url = "/login" + (f"?next={next_url}" if next_url else "")
        return self.client.post(
            url, data={"email": email, "password": password, "csrf_token": token}
        )


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)
