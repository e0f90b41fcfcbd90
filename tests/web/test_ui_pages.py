"""The buyer's pages as htmx sees them: fragments, polling, inline errors, history, frame."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.exceptions import TooManyRequests

from app import ledger
from app.errors import Forbidden
from app.extensions import db
from app.models import CreditPackage, Purchase, PurchaseStatus, User
from tests.helpers.apps import dispose, make_app
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.logins import Auth
from tests.helpers.sandbox_driver import SandboxDriver, sandbox_app_for

HX = {"HX-Request": "true"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def buyer(sandbox_app: Flask) -> FlaskClient:
    """A logged-in buyer's browser on the sandbox app."""
    with sandbox_app.app_context():
        make_user()
    client = sandbox_app.test_client()
    Auth(client).login()
    return client


def csrf(client: FlaskClient) -> str:
    return Auth(client).csrf()


def start(client: FlaskClient, code: str = "pro") -> Purchase:
    """Press Buy now as htmx does and return the purchase it started."""
    response = client.post(
        "/credits/purchase", data={"package_code": code, "csrf_token": csrf(client)}, headers=HX
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    session_id = response.headers["HX-Redirect"].rsplit("/", 1)[1]
    return db.session.scalar(
        select(Purchase).where(Purchase.stripe_checkout_session_id == session_id)
    )


def html_of(response) -> str:
    return response.get_data(as_text=True)


# -- buy page ------------------------------------------------------------------


def test_buy_forms_post_without_javascript_and_upgrade_with_htmx(buyer: FlaskClient) -> None:
    html = html_of(buyer.get("/credits/purchase"))
    forms = re.findall(r"<form method=\"post\" action=\"/credits/purchase\"[^>]*>", html)
    assert len(forms) == 5
    for form in forms:
        assert 'hx-post="/credits/purchase"' in form
        assert 'hx-disabled-elt=".buy-now"' in form  # every Buy button, not just this one
        assert 'hx-sync="closest .packs:drop"' in form
    assert html.count('name="csrf_token"') >= 5
    assert html.count('class="primary buy-now"') == 5
    assert "Opening checkout…" in html  # shown by CSS while the request is in flight


def test_price_per_100_credits_is_rounded_half_up(sandbox_app: Flask, buyer: FlaskClient) -> None:
    with sandbox_app.app_context():
        db.session.execute(
            update(CreditPackage).where(CreditPackage.code == "starter").values(credits=300)
        )
        db.session.commit()
    # $10.00 for 300 credits is 333.33... cents per 100
    assert "$3.33 per 100 credits" in html_of(buyer.get("/credits/purchase"))


def test_debt_is_shown_as_debt_on_the_buy_page_and_in_the_header(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        user = db.session.scalar(select(User))
        ledger.adjust(user, -250, "correction", actor="test")
    html = html_of(buyer.get("/credits/purchase"))
    assert "You owe 250 credits" in html
    assert re.search(
        r'id="header-balance" class="header-balance debt"[^>]*>You owe 250 credits<', html
    )


# -- inline errors -------------------------------------------------------------


def test_a_rate_limited_htmx_purchase_answers_an_error_fragment(tmp_path) -> None:
    app = sandbox_app_for(tmp_path, PURCHASE_RATE_LIMIT="1 per hour")
    try:
        with app.app_context():
            make_user()
        client = app.test_client()
        Auth(client).login()
        token = csrf(client)
        first = client.post(
            "/credits/purchase", data={"package_code": "pro", "csrf_token": token}, headers=HX
        )
        assert first.status_code == 204
        second = client.post(
            "/credits/purchase", data={"package_code": "basic", "csrf_token": token}, headers=HX
        )
        assert second.status_code == 429
        assert second.headers["HX-Retarget"] == "#error-region"
        assert second.headers["HX-Reswap"].startswith("innerHTML")
        body = html_of(second)
        assert body.lstrip().startswith('<div id="request-error"')
        assert "<html" not in body and "Slow down a little" in body
        plain = client.post(
            "/credits/purchase", data={"package_code": "basic", "csrf_token": token}
        )
        assert plain.status_code == 429 and "<html" in html_of(plain)
        assert "Slow down a little" in html_of(plain)
    finally:
        app.extensions["stripe_sandbox"].close()
        dispose(app)


def test_stripe_unavailable_is_an_inline_502(sandbox_app: Flask, buyer: FlaskClient) -> None:
    with sandbox_app.app_context():
        db.session.execute(
            update(CreditPackage).where(CreditPackage.code == "pro").values(stripe_price_id=None)
        )
        db.session.commit()
    response = buyer.post(
        "/credits/purchase", data={"package_code": "pro", "csrf_token": csrf(buyer)}, headers=HX
    )
    assert response.status_code == 502 and response.headers["HX-Retarget"] == "#error-region"
    assert "Payments are unavailable right now" in html_of(response)


def test_an_expired_session_during_a_poll_sends_the_window_to_log_in(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        purchase_id = start(buyer).public_id
    buyer.post("/logout", data={"csrf_token": csrf(buyer)})
    response = buyer.get(f"/credits/purchase/{purchase_id}/status?seen=pending", headers=HX)
    # A redirect would be followed inside htmx's request and the log-in page swapped in.
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_the_htmx_config_swaps_errors_and_forbids_eval(buyer: FlaskClient) -> None:
    html = html_of(buyer.get("/credits/purchase"))
    raw = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1)
    config = json.loads(unescape(raw))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
    assert config["selfRequestsOnly"] is True and config["historyCacheSize"] == 0
    errors = next(rule for rule in config["responseHandling"] if rule["code"] == "[45]..")
    assert errors["swap"] is True and errors["error"] is True
    assert errors["target"] == "#error-region"
    assert 'id="error-region"' in html and 'role="alert"' in html


# -- purchase status -----------------------------------------------------------


def test_the_status_poll_answers_204_until_something_changes(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    sandbox = SandboxDriver(sandbox_app)
    with sandbox_app.app_context():
        purchase = start(buyer)
        purchase_id, session_id = purchase.public_id, purchase.stripe_checkout_session_id
    url = f"/credits/purchase/{purchase_id}/status"
    assert buyer.get(f"{url}?seen=pending", headers=HX).status_code == 204
    sandbox.pay(session_id)
    sandbox.flush()
    done = buyer.get(f"{url}?seen=pending", headers=HX)
    html = html_of(done)
    assert done.status_code == 200 and html.lstrip().startswith('<section id="purchase-status"')
    assert "Completed: 1,000 credits added" in html and "hx-trigger" not in html
    assert 'id="header-balance" class="header-balance" hx-swap-oob="true">1,000 credits' in html


def test_the_success_page_polls_and_offers_a_refresh_link_without_javascript(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        purchase = start(buyer)
        session_id, purchase_id = purchase.stripe_checkout_session_id, purchase.public_id
    html = html_of(buyer.get(f"/credits/purchase/success?session_id={session_id}"))
    assert re.search(r'<div class="status-live" role="status" aria-live="polite"', html)
    assert f'hx-get="/credits/purchase/{purchase_id}/status?seen=pending"' in html
    assert 'hx-trigger="every 1s"' in html and 'hx-swap="outerHTML"' in html
    refresh = f'<a class="button" href="/credits/purchase/{purchase_id}/status">Refresh status</a>'
    assert f"<noscript><p>{refresh}" in html
    page = buyer.get(f"/credits/purchase/{purchase_id}/status")  # the refresh link, no htmx
    assert page.status_code == 200 and "<html" in html_of(page)


@pytest.mark.parametrize(
    ("status", "headline"),
    [
        ("failed", "Payment failed"),
        ("expired", "Checkout expired"),
        ("canceled", "Purchase canceled"),
    ],
)
def test_unpaid_endings_say_what_happened_and_offer_to_try_again(
    sandbox_app: Flask, buyer: FlaskClient, status: str, headline: str
) -> None:
    with sandbox_app.app_context():
        purchase = make_purchase(
            db.session.scalar(select(User)), "basic", status=PurchaseStatus(status)
        )
        url = f"/credits/purchase/{purchase.public_id}/status"
    html = html_of(buyer.get(url, headers=HX))
    assert headline in html and "hx-trigger" not in html
    assert re.search(r'<input type="hidden" name="package_code" value="basic">', html)
    assert ">Try again</button>" in html and "Choose another pack" in html


# -- history and transactions --------------------------------------------------


def test_history_is_empty_in_words_at_first(buyer: FlaskClient) -> None:
    html = html_of(buyer.get("/credits/history"))
    assert "No purchases yet" in html and "Buy your first pack" in html
    assert "No transactions yet" in html_of(buyer.get("/credits/transactions"))


def test_history_pages_by_cursor_and_answers_a_fragment_to_htmx(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        user = db.session.scalar(select(User))
        made = [
            make_purchase(user, code, status=PurchaseStatus.EXPIRED).public_id
            for code in ("starter", "basic", "pro")
        ]
    first = html_of(buyer.get("/credits/history?limit=2"))
    assert first.index(made[2]) < first.index(made[1]) and made[0] not in first
    older = re.search(r'href="(/credits/history\?cursor=[^"]+)" hx-get="([^"]+)"', first)
    assert older and older.group(1) == older.group(2)
    assert 'hx-target="#purchase-history"' in first and 'hx-push-url="true"' in first
    fragment = html_of(buyer.get(unescape(older.group(1)), headers=HX))
    assert (
        fragment.lstrip().startswith('<section id="purchase-history"') and "<html" not in fragment
    )
    assert made[0] in fragment and made[2] not in fragment
    assert "Newest purchases" in fragment
    assert buyer.get("/credits/history?cursor=not-a-cursor").status_code == 422


def test_open_rows_poll_and_a_changed_row_updates_the_header(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    sandbox = SandboxDriver(sandbox_app)
    with sandbox_app.app_context():
        purchase = start(buyer, "starter")
        purchase_id, session_id = purchase.public_id, purchase.stripe_checkout_session_id
    html = html_of(buyer.get("/credits/history"))
    row_url = f"/credits/history/{purchase_id}/row"
    assert f'hx-get="{row_url}?seen=pending" hx-trigger="every 2s"' in html
    assert ">Awaiting payment<" in html
    assert buyer.get(f"{row_url}?seen=pending", headers=HX).status_code == 204
    sandbox.pay(session_id)
    sandbox.flush()
    row = html_of(buyer.get(f"{row_url}?seen=pending", headers=HX))
    assert row.lstrip().startswith(f'<tr id="purchase-{purchase_id}"') and "hx-trigger" not in row
    assert ">Completed<" in row and 'hx-swap-oob="true">100 credits' in row
    assert buyer.get(row_url).status_code == 302  # a person opening it gets the purchase page


def test_someone_elses_row_is_404(sandbox_app: Flask, buyer: FlaskClient) -> None:
    with sandbox_app.app_context():
        other = make_purchase(make_user("other@example.com")).public_id
    assert buyer.get(f"/credits/history/{other}/row", headers=HX).status_code == 404


def test_transactions_show_each_movement_with_the_balance_after(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        user = db.session.scalar(select(User))
        ledger.adjust(user, 500, "welcome gift", actor="test")
        ledger.adjust(user, -700, "correction", actor="test")
    html = html_of(buyer.get("/credits/transactions"))
    rows = re.findall(r"<tr class=\"movement movement-adjustment\">(.*?)</tr>", html, re.S)
    assert len(rows) == 2
    assert "correction" in rows[0] and "\u2212700" in rows[0] and ">-200<" in rows[0]
    assert "welcome gift" in rows[1] and "+500" in rows[1] and ">500<" in rows[1]
    fragment = html_of(buyer.get("/credits/transactions", headers=HX))
    assert fragment.lstrip().startswith('<section id="transactions"')


def test_times_are_utc_in_the_markup_for_the_script_to_localise(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        start(buyer)
    html = html_of(buyer.get("/credits/history"))
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"'
        r' title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"'
        r" data-local>\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>",
        html,
    )
    assert '<script src="/static/js/app.js" defer></script>' in html
    script = buyer.get("/static/js/app.js")
    assert script.status_code == 200 and b"time[data-local]" in script.data
    script.close()


# -- frame -----------------------------------------------------------------------


def test_the_header_has_balance_navigation_and_log_out(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    html = html_of(buyer.get("/credits/history"))
    nav = re.search(r'<nav class="main-nav" aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r">([^<>]+)</a>", nav) == ["Buy credits", "History", "Transactions"]
    assert '<a href="/credits/history" aria-current="page">History</a>' in nav
    assert "Log out</button>" in html and 'id="header-balance"' in html
    with sandbox_app.app_context():
        make_user("boss@example.com", admin=True)
    admin = sandbox_app.test_client()
    Auth(admin).login("boss@example.com")
    assert '<a href="/admin/credits/purchases">Admin</a>' in html_of(admin.get("/credits/history"))


def test_no_page_carries_inline_script_style_or_event_handlers(
    sandbox_app: Flask, buyer: FlaskClient
) -> None:
    with sandbox_app.app_context():
        purchase = start(buyer)
        session_id, purchase_id = purchase.stripe_checkout_session_id, purchase.public_id
    pages = [
        "/credits/purchase",
        "/credits/history",
        "/credits/transactions",
        f"/credits/purchase/success?session_id={session_id}",
        f"/credits/purchase/cancel?purchase_id={purchase_id}",
        "/nope",
    ]
    anonymous = sandbox_app.test_client()
    for client, path in [(buyer, p) for p in pages] + [
        (anonymous, "/login"),
        (anonymous, "/register"),
    ]:
        html = html_of(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"<style\b|\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=|\shx-on", html), path
        assert "js:" not in html and "javascript:" not in html, path


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (403, "Not allowed"),
        (404, "Not found"),
        (429, "Slow down a little"),
        (500, "Something went wrong"),
    ],
)
def test_error_pages_are_styled_pages_in_the_frame(tmp_path, status: int, title: str) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    raising = {403: Forbidden("admins only"), 429: TooManyRequests(), 500: RuntimeError("boom")}

    @app.get("/boom")
    def boom():
        raise raising.get(status, RuntimeError("unused"))

    try:
        with app.app_context():
            make_user()
        client = app.test_client()
        Auth(client).login()
        response = client.get("/boom" if status != 404 else "/no-such-page")
        html = html_of(response)
        assert response.status_code == status
        assert f'<h1 id="error-title">{title}</h1>' in html
        assert 'class="site-header"' in html and 'href="/static/css/app.css"' in html
        assert "Go to Buy credits" in html
        assert "boom" not in html  # an internal error never shows its details
    finally:
        dispose(app)


def test_static_assets_are_vendored_not_fetched() -> None:
    assert (ROOT / "static" / "vendor" / "htmx-2.0.11.min.js").is_file()
    assert (ROOT / "static" / "vendor" / "htmx-2.0.11.LICENSE").is_file()
    base = (ROOT / "templates" / "base.html").read_text()
    assert "http://" not in base and "https://" not in base


def test_a_debt_from_a_deduction_is_not_blamed_on_a_refund(app: Flask, client, auth) -> None:
    with app.app_context():
        user = make_user()
        ledger.adjust(user, -50, "manual correction", actor="test")
        make_user("boss@example.com", admin=True)
        user_id = user.id
    auth.login()
    page = client.get("/credits/purchase").get_data(as_text=True)
    assert "You owe 50 credits" in page and "A refund or dispute" not in page
    assert "taken back or deducted" in page
    client.post("/logout", data={"csrf_token": auth.csrf()})
    auth.login("boss@example.com")
    admin_page = client.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert "The buyer sees the reason in their transactions" in admin_page
