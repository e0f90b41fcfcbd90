"""Credits: prepaid credit packs sold through Stripe Checkout, kept in a double-entry ledger."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, request
from flask_login import AnonymousUserMixin
from sqlalchemy import bindparam, select, text
from werkzeug.local import LocalProxy

from app.config import load_config
from app.db import configure_engine, engine_options
from app.extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application from the environment, overridden by test_config."""
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
    env = dict(os.environ)
    if test_config is not None:
        env["APP_ENV"] = test_config.get("APP_ENV", "testing")
    app.config.from_mapping(load_config(env, instance_path))
    if test_config is not None:
        app.config.from_mapping(test_config)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from app.payments import sandbox_mount

    if sandbox_mount.sandbox_wanted(app):
        sandbox_mount.install(app)

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    _init_login(app)
    with app.app_context():
        configure_engine(db.engine)

    from app.cli import register_cli
    from app.web import error_handlers, security_headers, template_filters
    from app.web.admin.views import bp as admin_bp
    from app.web.auth.views import bp as auth_bp
    from app.web.catalog.views import bp as catalog_bp
    from app.web.checkout.views import bp as checkout_bp
    from app.web.history.views import bp as history_bp
    from app.web.webhooks.views import bp as webhooks_bp

    error_handlers.register(app)
    template_filters.register(app)
    security_headers.register(app)
    app.register_blueprint(auth_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(checkout_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)
    register_cli(app)

    @app.context_processor
    def header_context() -> dict:
        from flask_login import current_user

        from app.ledger import balance

        if current_user.is_authenticated:
            # Read only if a template shows it (partials pass their own), and then once.
            user_id = current_user.id
            return {"header_balance": LocalProxy(functools.cache(lambda: balance(user_id)))}
        return {}

    @app.get("/healthz")
    def healthz():
        """Report whether the database answers."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            app.logger.exception("health check failed")
            return jsonify({"status": "error", "database": "unreachable"}), 503
        return jsonify({"status": "ok"})

    return app


def _init_login(app: Flask) -> None:
    from app.domain.users import user_for_token
    from app.models import User
    from app.web.responses import json_error, wants_json

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."

    # Built once: every logged-in request runs it, and Session.get builds its query each time.
    by_id = select(User).where(User.id == bindparam("user_id"))

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.scalar(by_id, {"user_id": int(user_id)})

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, url_for

        if wants_json():
            return json_error(401, "unauthenticated", "log in or send a bearer token")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.before_request
    def authenticate_bearer() -> None:
        """Authenticate API calls that carry a bearer token, and only by it."""
        header = request.headers.get("Authorization", "")
        g.token_auth = header[:7].lower() == "bearer "
        if g.token_auth:
            # Flask-Login reads the request's user from g._login_user.
            g._login_user = user_for_token(header[7:].strip()) or AnonymousUserMixin()
