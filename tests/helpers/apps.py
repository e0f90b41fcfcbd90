"""Test apps: create_app with the test settings on a given database, and their disposal."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import create_app
from app.extensions import db

WEBHOOK_SECRET = "whsec_test_secret"


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
    """Release the app's session and close its pool."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
