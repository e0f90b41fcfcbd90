"""The public pack list, the balance, health and error shapes."""

from __future__ import annotations

from app import ledger
from app.extensions import db
from tests.helpers.builders import make_user


def test_packages_are_public_and_in_display_order(client):
    response = client.get("/api/v1/billing/credits/packages")
    assert response.status_code == 200
    data = response.json["data"]
    assert [p["code"] for p in data] == ["starter", "basic", "pro", "premium", "enterprise"]
    pro = data[2]
    assert pro == {
        "code": "pro",
        "name": "Pro Pack",
        "description": pro["description"],
        "credits": 1000,
        "price_cents": 8500,
        "currency": "usd",
        "discount_percent": 15,
        "badge": "Popular",
    }


def test_inactive_packs_are_hidden(app, client):
    from app.models import CreditPackage

    with app.app_context():
        db.session.query(CreditPackage).filter_by(code="basic").update({"is_active": False})
        db.session.commit()
    codes = [p["code"] for p in client.get("/api/v1/billing/credits/packages").json["data"]]
    assert "basic" not in codes and len(codes) == 4


def test_balance_needs_auth_and_reports_the_caller(app, client, auth):
    assert client.get("/api/v1/billing/credits/balance").json == {
        "error": {"code": "unauthenticated", "message": "log in or send a bearer token"}
    }
    with app.app_context():
        user = make_user()
        other = make_user("other@example.com")
        ledger.adjust(user, 42, "test", actor="test")
        ledger.adjust(other, 7, "test", actor="test")
    auth.login()
    assert client.get("/api/v1/billing/credits/balance").json == {"balance": 42}


def test_buy_page_lists_the_packs(client, auth, ctx):
    make_user()
    auth.login()
    html = client.get("/credits/purchase").get_data(as_text=True)
    for text in (
        "Starter Pack",
        "$10.00",
        "Save 10%",
        "Popular",
        "Best value",
        "$750.00",
        "10,000 credits",
    ):
        assert text in html
    assert "$7.50 per 100 credits" in html


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "not_configured"}


def test_healthz_reports_a_dead_database(tmp_path):
    from tests.helpers.apps import make_app

    app = make_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", tmp_path, create_schema=False)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "error"
    assert response.json["database"] == "unreachable"


def test_unknown_api_path_is_json_404_and_page_404_is_html(client):
    api = client.get("/api/v1/nope")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"
    page = client.get("/nope")
    assert page.status_code == 404 and "Not found" in page.get_data(as_text=True)


def test_security_headers(client):
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in headers
