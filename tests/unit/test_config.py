"""Configuration: development defaults, production refuses to start without its secrets."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import PRODUCTION_SECRETS, ConfigError, load_config, normalise_database_url

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 32,
    "DATABASE_URL": "postgresql://u@db/credits",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "APP_BASE_URL": "https://credits.example/",
}


def test_development_is_the_default_and_keeps_its_secret(tmp_path):
    first = load_config({}, tmp_path)
    again = load_config({}, tmp_path)
    assert first["APP_ENV"] == "development"
    assert first["SECRET_KEY"] == again["SECRET_KEY"] and len(first["SECRET_KEY"]) > 30
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'credits.sqlite3'}"
    assert first["SESSION_COOKIE_SECURE"] is False
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("missing", PRODUCTION_SECRETS)
def test_production_names_the_missing_secret(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(env, tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_production_settings(tmp_path):
    config = load_config(PRODUCTION, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/credits"
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["APP_BASE_URL"] == "https://credits.example"


def test_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="APP_ENV"):
        load_config({"APP_ENV": "staging"}, tmp_path)


def test_testing_never_writes_a_secret(tmp_path):
    config = load_config({"APP_ENV": "testing"}, tmp_path)
    assert config["SECRET_KEY"] and not (tmp_path / "secret_key").exists()


def test_redis_url_drives_the_rate_limit_storage(tmp_path):
    config = load_config({"REDIS_URL": "redis://127.0.0.1:6379/0"}, tmp_path)
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def test_create_app_in_production_fails_fast(monkeypatch, tmp_path):
    for name in PRODUCTION_SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql+psycopg://a@b/c", "postgresql+psycopg://a@b/c"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg(url, expected):
    assert normalise_database_url(url) == expected
