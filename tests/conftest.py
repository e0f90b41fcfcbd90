"""Shared fixtures: apps on SQLite (and PostgreSQL where it matters), clients, builders."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import stripe
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, select, text
from werkzeug.security import generate_password_hash

from app import create_app
from app.domain.packs import seed_packages
from app.extensions import db
from app.ledger import ensure_account, user_account
from app.models import CreditPackage, Purchase, PurchaseStatus, User

PASSWORD = "correct-horse-battery"
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt")
ENGINES = ["sqlite", "postgresql"]
WEBHOOK_SECRET = "whsec_test_secret"


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
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "APP_BASE_URL": "http://localhost",
        "MAIL_BACKGROUND": False,
        "MAIL_BATCH_SECONDS": 0,
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


@pytest.fixture
def stripe_fake() -> Iterator:
    """Stripe's HTTP API, faked with `responses`; no request leaves the process."""
    from tests.stripe_fake import FakeStripe

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeStripe(mock)


def sync_packs() -> None:
    """Run the catalogue sync (against whatever Stripe the app is pointed at)."""
    from app.payments.catalog_sync import sync_stripe

    sync_stripe(echo=lambda _line: None)


def make_purchase(
    user: User,
    code: str = "pro",
    *,
    status: PurchaseStatus = PurchaseStatus.PENDING,
    session_id: str | None = None,
) -> Purchase:
    """Write a purchase row as start_purchase would after Stripe answered."""
    package = db.session.scalar(select(CreditPackage).where(CreditPackage.code == code))
    purchase = Purchase.of_package(
        user.id,
        package,
        status=status,
        stripe_checkout_session_id=session_id or f"cs_test_{uuid.uuid4().hex[:16]}",
    )
    db.session.add(purchase)
    db.session.commit()
    return purchase


def session_object(purchase: Purchase, **overrides: Any) -> dict[str, Any]:
    """A Checkout Session as Stripe sends it for this purchase (paid unless overridden)."""
    return {
        "id": purchase.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": purchase.amount_cents,
        "currency": purchase.currency,
        "client_reference_id": purchase.public_id,
        "customer": None,
        "payment_intent": f"pi_{purchase.public_id[4:]}",
        "metadata": {"purchase_id": purchase.public_id},
        "livemode": False,
        **overrides,
    }


def event_for(obj: dict[str, Any], event_type: str, event_id: str | None = None) -> dict[str, Any]:
    """Wrap an object in a Stripe event envelope."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Sign a body exactly as Stripe does: t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<body>")."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def deliver(client: FlaskClient, event: dict[str, Any], **sign_kwargs: Any):
    """POST a signed event to the webhook."""
    body = json.dumps(event)
    return client.post(
        "/api/v1/billing/credits/webhook",
        data=body,
        headers={"Stripe-Signature": sign(body, **sign_kwargs), "Content-Type": "application/json"},
    )


class SandboxDriver:
    """Drives the app's mounted Stripe sandbox through its test helpers, as a script would."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.box = app.extensions["stripe_sandbox"]

    def helper(self, path: str, **form: Any) -> tuple[int, dict[str, Any]]:
        response = self.client.post(
            f"/stripe-sandbox/v1/test_helpers/{path}",
            data=form,
            headers={"Authorization": "Bearer sk_test_script"},
        )
        return response.status_code, response.get_json()

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(
            f"/stripe-sandbox/v1/{path}", headers={"Authorization": "Bearer sk_test_script"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def pay(self, session_id: str, card: str = "4242 4242 4242 4242", **form: Any):
        return self.helper(f"checkout/sessions/{session_id}/pay", card=card, **form)

    def flush(self) -> int:
        return self.box.flush()

    def advance(self, seconds: int) -> None:
        self.helper("clock/advance", seconds=seconds)
        self.box.tick()


def sandbox_app_for(tmp_path: Path, engine: str = "sqlite", **overrides: Any) -> Flask:
    """An app on the offline Stripe sandbox (no Stripe key), packs seeded and synced."""
    settings = {
        "STRIPE_SECRET_KEY": None,
        "SANDBOX_DELIVERY_DELAY": 0,
        "SANDBOX_DELIVERY_BACKOFF": 0,
        "SANDBOX_START_WORKER": False,
        **overrides,
    }
    app = make_app(database_url(engine, tmp_path), tmp_path, **settings)
    with app.app_context():
        seed_packages()
        sync_packs()
    return app


@pytest.fixture
def sandbox_app(tmp_path: Path) -> Iterator[Flask]:
    app = sandbox_app_for(tmp_path)
    yield app
    app.extensions["stripe_sandbox"].close()
    dispose(app)


@pytest.fixture
def sandbox(sandbox_app: Flask) -> SandboxDriver:
    return SandboxDriver(sandbox_app)
