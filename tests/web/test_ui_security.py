"""Security headers and cookies of the pages, in the sandbox and in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db


def directives(csp: str) -> dict[str, list[str]]:
    """Split a Content-Security-Policy into {directive: [sources]}."""
    parsed = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Flask]:
    """The app as APP_ENV=production builds it (a real Stripe key, so no sandbox)."""
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite3'}")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_not_used")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_not_used")
    monkeypatch.setenv("APP_BASE_URL", "https://credits.example")
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_csp_allows_no_inline_code_and_no_framing(client: FlaskClient) -> None:
    response = client.get("/login")
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]
    every_source = [s for sources in csp.values() for s in sources]
    assert not any("unsafe" in s or s in ("*", "http:", "https:") for s in every_source)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # tests run on plain http


def test_with_a_real_stripe_key_forms_may_go_to_checkout(client: FlaskClient) -> None:
    # The `client` app has a (fake) Stripe key, so Buy now redirects to checkout.stripe.com.
    csp = directives(client.get("/login").headers["Content-Security-Policy"])
    assert csp["form-action"] == ["'self'", "https://checkout.stripe.com"]


def test_on_the_sandbox_forms_stay_on_this_site(sandbox_app: Flask) -> None:
    csp = directives(sandbox_app.test_client().get("/login").headers["Content-Security-Policy"])
    assert csp["form-action"] == ["'self'"]


def test_error_pages_carry_the_headers_too(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_production_adds_hsts_and_secure_session_cookies(production: Flask) -> None:
    response = production.test_client().get("/login")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    csp = directives(response.headers["Content-Security-Policy"])
    assert "https://checkout.stripe.com" in csp["form-action"]
    cookie = response.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite"} <= attributes
    assert "SameSite=Lax" in cookie


def test_plain_http_session_cookies_are_httponly_and_lax_but_not_secure(
    client: FlaskClient,
) -> None:
    cookie = client.get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
