"""Settings read from the environment; production fails fast without its secrets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

STRIPE_API_VERSION = "2026-10-28.endive"
PRODUCTION_SECRETS = (
    "SECRET_KEY",
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "APP_BASE_URL",
)
ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The environment cannot run the app as configured."""


def normalise_database_url(url: str) -> str:
    """Route plain PostgreSQL URLs through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def persistent_secret(instance_path: Path, name: str) -> str:
    """Return a random secret generated once and kept in the instance folder."""
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _number(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def _app_env(env: Mapping[str, str]) -> str:
    """Return APP_ENV, refusing an unknown one and production without its secrets."""
    app_env = env.get("APP_ENV", "development").strip().lower() or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")
    if app_env == "production":
        for name in PRODUCTION_SECRETS:
            if not env.get(name, "").strip():
                raise ConfigError(f"APP_ENV=production requires {name} to be set")
    return app_env


def _web_settings(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """Cookies, CSRF, rate limits and request limits."""
    return {
        "REDIS_URL": env.get("REDIS_URL") or None,
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "credits",
        # With Redis down, limits are counted per process (with a warning) until it answers
        # again; Flask-Limiter checks for it with a growing interval and switches back.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT") or "10 per minute",
        "PURCHASE_RATE_LIMIT": env.get("PURCHASE_RATE_LIMIT") or "10 per minute",
        "WEBHOOK_MAX_BYTES": 256 * 1024,
        "MAX_CREDITS_PER_REQUEST": int(env.get("MAX_CREDITS_PER_REQUEST") or 10**9),
        "MAX_AMOUNT_CENTS": int(env.get("MAX_AMOUNT_CENTS") or 99_999_999),
    }


def _stripe_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The Stripe client, Checkout and the buyer's status checks."""
    return {
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_VERSION": STRIPE_API_VERSION,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "STRIPE_TIMEOUT": float(env.get("STRIPE_TIMEOUT") or 20),
        "STRIPE_MAX_NETWORK_RETRIES": int(env.get("STRIPE_MAX_NETWORK_RETRIES") or 2),
        "STRIPE_SANDBOX": False,
        "CHECKOUT_EXPIRY_MINUTES": int(env.get("CHECKOUT_EXPIRY_MINUTES") or 60),
        "STATUS_CHECK_SECONDS": float(env.get("STATUS_CHECK_SECONDS") or 3),
    }


def _mail_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The SMTP server the outbox sends through."""
    return {
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(env.get("MAIL_PORT") or 25),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": (env.get("MAIL_USE_TLS") or "").lower() in ("1", "true", "yes"),
        "MAIL_FROM": env.get("MAIL_FROM") or "Credits <no-reply@credits.invalid>",
        "MAIL_BACKGROUND": True,
        "MAIL_BATCH_SECONDS": float(env.get("MAIL_BATCH_SECONDS") or 0.5),
    }


def _sandbox_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """SANDBOX_* variables, passed to the Stripe sandbox as its options."""
    settings: dict[str, Any] = {
        key: _number(value)
        for key, value in env.items()
        if key.startswith("SANDBOX_") and key != "SANDBOX_STATE_PATH"
    }
    if env.get("SANDBOX_STATE_PATH"):
        settings["SANDBOX_STATE_PATH"] = env["SANDBOX_STATE_PATH"]
    return settings


def load_config(env: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    app_env = _app_env(env)
    secret_key = env.get("SECRET_KEY") or (
        secrets.token_urlsafe(32)
        if app_env == "testing"
        else persistent_secret(instance_path, "secret_key")
    )
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'credits.sqlite3'}"
    return {
        "APP_ENV": app_env,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": env.get("DATABASE_POOL_PRE_PING", "").lower() in ("1", "true", "yes")
        },
        "APP_BASE_URL": (env.get("APP_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        **_web_settings(env, production=app_env == "production"),
        **_stripe_settings(env),
        **_mail_settings(env),
        **_sandbox_settings(env),
    }


def configure(
    app: Flask, environ: Mapping[str, str], test_config: Mapping[str, Any] | None
) -> None:
    """Load the app's config from the environment; test_config (testing unless it says
    otherwise) overrides it."""
    env = dict(environ)
    if test_config is not None:
        env["APP_ENV"] = test_config.get("APP_ENV", "testing")
    app.config.from_mapping(load_config(env, Path(app.instance_path)))
    if test_config is not None:
        app.config.from_mapping(test_config)
