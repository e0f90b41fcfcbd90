"""Every unsafe route a session cookie reaches refuses a request without a CSRF token and
changes nothing; the signed webhook is the one exemption."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, LedgerTransaction, Purchase
from tests.helpers.builders import make_purchase, make_user

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
EXEMPT = {"webhooks.stripe_webhook"}


def unsafe_routes(app: Flask) -> list[tuple[str, str, str]]:
    """Return (endpoint, method, url) for every unsafe method of every route, with made-up
    values for its path arguments."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        values = {
            name: 1 if type(converter).__name__ == "IntegerConverter" else "pur_x"
            for name, converter in rule._converters.items()
        }
        url = adapter.build(rule.endpoint, values)
        routes += [(rule.endpoint, method, url) for method in sorted(rule.methods & UNSAFE)]
    return routes


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Purchase, LedgerTransaction, AuditLog)
    )


def test_the_webhook_is_the_only_unsafe_route_without_csrf(app):
    from app.web.error_handlers import ANONYMOUS_FORMS, CSRF_EXEMPT_ENDPOINTS

    assert CSRF_EXEMPT_ENDPOINTS == EXEMPT
    assert {endpoint for endpoint, _, _ in unsafe_routes(app)} >= ANONYMOUS_FORMS
    assert len(unsafe_routes(app)) >= 15


@pytest.fixture
def cookie_client(app, client):
    """A client logged in as an admin by its session cookie alone (no CSRF token yet)."""
    with app.app_context():
        user = make_user(admin=True)
        make_purchase(user)
        user_id = user.id
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    return client


def test_every_unsafe_route_refuses_a_cookie_request_without_a_token(
    app, cookie_client, stripe_fake
):
    with app.app_context():
        before = counts()
    checked = 0
    for endpoint, method, url in unsafe_routes(app):
        if endpoint in EXEMPT:
            continue
        response = cookie_client.open(
            url, method=method, data={"package_code": "pro", "amount": "1", "note": "x"}
        )
        assert response.status_code == 400, (endpoint, method, response.status_code)
        if url.startswith("/api/"):
            assert response.json["error"]["code"] == "csrf_failed", endpoint
        else:
            assert "reload and try again" in response.get_data(as_text=True), endpoint
        checked += 1
    assert checked >= 14
    assert stripe_fake.calls == [], "a refused request reached Stripe"
    with app.app_context():
        assert counts() == before


def test_the_buy_form_without_a_token_buys_nothing(app, cookie_client, stripe_fake):
    with app.app_context():
        before = counts()
    response = cookie_client.post("/credits/purchase", data={"package_code": "pro"})
    assert response.status_code == 400
    assert stripe_fake.calls == []
    with app.app_context():
        assert counts() == before


def test_a_json_api_call_by_cookie_needs_the_token_too(app, cookie_client, stripe_fake):
    response = cookie_client.post(
        "/api/v1/billing/credits/spend", json={"amount": 1, "idempotency_key": "k"}
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "csrf_failed"
