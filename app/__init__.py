"""Credits: prepaid credit packs sold through Stripe Checkout, kept in a double-entry ledger."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application from the environment, overridden by test_config."""
    from app.config import configure

    overrides = dict(test_config or {})
    instance_path = Path(
        overrides.get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH") or ROOT / "instance"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    configure(app, os.environ, test_config)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    register_extensions(app)
    register_web(app)
    return app


def register_extensions(app: Flask) -> None:
    """Mount the Stripe sandbox when wanted, and bind the database and extensions."""
    from app.db import configure_engine, engine_options
    from app.domain import mail
    from app.extensions import csrf, db, limiter, migrate
    from app.payments import sandbox_mount
    from app.web import login

    if sandbox_mount.sandbox_wanted(app):
        sandbox_mount.install(app)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login.register(app)
    mail.init_app(app)
    with app.app_context():
        configure_engine(db.engine)


def register_web(app: Flask) -> None:
    """Install the request plumbing, the blueprints and the `flask credits` commands."""
    from app.cli import register_cli
    from app.web import error_handlers, input_guard, security_headers, template_filters
    from app.web.admin.views import bp as admin_bp
    from app.web.auth.views import bp as auth_bp
    from app.web.catalog.views import bp as catalog_bp
    from app.web.checkout.views import bp as checkout_bp
    from app.web.health import bp as health_bp
    from app.web.history.views import bp as history_bp
    from app.web.webhooks.views import bp as webhooks_bp

    error_handlers.register(app)
    input_guard.register(app)
    template_filters.register(app)
    security_headers.register(app)
    for blueprint in (
        health_bp,
        auth_bp,
        catalog_bp,
        history_bp,
        checkout_bp,
        webhooks_bp,
        admin_bp,
    ):
        app.register_blueprint(blueprint)
    register_cli(app)
