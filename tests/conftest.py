"""Shared fixtures: apps on SQLite (and PostgreSQL where it matters), clients, the Stripe fake.

What the fixtures are built from lives in tests/helpers/.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import ledger
from app.domain.packs import seed_packages
from app.extensions import db
from tests.helpers.apps import dispose, make_app
from tests.helpers.databases import ENGINES, database_url
from tests.helpers.logins import Auth
from tests.helpers.sandbox_driver import SandboxDriver, sandbox_app_for
from tests.helpers.stripe_fake import FakeStripe

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection beyond this machine: tests never reach real Stripe."""
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            raise OSError(f"tests may not reach the network ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


def ledger_still_verifies(request: pytest.FixtureRequest, app: Flask) -> None:
    """After every test, whatever it did, the ledger's invariants hold (a test that plants
    violations on purpose says so with the broken_ledger mark)."""
    if request.node.get_closest_marker("broken_ledger") or not _test_passed(request):
        return
    with app.app_context():
        db.session.rollback()
        problems = ledger.verify()
    assert problems == [], f"the ledger does not verify after {request.node.nodeid}: {problems}"


def _test_passed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.passed


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh SQLite file, with the standard packs seeded."""
    app = make_app(database_url("sqlite", tmp_path), tmp_path)
    with app.app_context():
        seed_packages()
    yield app
    ledger_still_verifies(request, app)
    dispose(app)


@pytest.fixture(params=ENGINES)
def db_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The same app on SQLite and on PostgreSQL, for database-sensitive tests."""
    app = make_app(database_url(request.param, tmp_path), tmp_path)
    with app.app_context():
        seed_packages()
    yield app
    ledger_still_verifies(request, app)
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


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    """Stripe's HTTP API, faked with `responses`; no request leaves the process."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeStripe(mock)


@pytest.fixture
def sandbox_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    app = sandbox_app_for(tmp_path)
    yield app
    app.extensions["stripe_sandbox"].close()
    ledger_still_verifies(request, app)
    dispose(app)


@pytest.fixture
def sandbox(sandbox_app: Flask) -> SandboxDriver:
    return SandboxDriver(sandbox_app)
