"""Starting, resuming, cancelling and reading purchases, with Stripe faked by `responses`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app import ledger
from app.domain import users
from app.extensions import db
from app.models import AuditLog, Purchase, User
from tests.helpers.apps import make_app
from tests.helpers.builders import make_purchase, make_user, sync_packs
from tests.helpers.logins import Auth
from tests.helpers.stripe_events import deliver, event_for, session_object

API = "/api/v1/billing/credits/purchase"


@pytest.fixture
def synced(app, stripe_fake):
    with app.app_context():
        sync_packs()
    return stripe_fake


@pytest.fixture
def buyer_token(app):
    with app.app_context():
        user = make_user()
        return users.issue_token(user)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_purchase_writes_pending_row_then_creates_the_session(app, client, synced, buyer_token):
    response = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"checkout_url", "session_id", "purchase_id"}
    assert body["session_id"].startswith("cs_test_") and body["purchase_id"].startswith("pur_")
    ((_, _, params, key),) = synced.calls_to("POST", r"/v1/checkout/sessions$")
    with app.app_context():
        purchase = db.session.scalar(select(Purchase))
        user = db.session.scalar(select(User))
        assert (purchase.status, purchase.credits, purchase.amount_cents, purchase.currency) == (
            "pending",
            1000,
            8500,
            "usd",
        )
        assert purchase.public_id == body["purchase_id"]
        pro_price = db.session.execute(
            db.text("select stripe_price_id from credit_packages where code='pro'")
        ).scalar()
    assert key == f"credits-checkout:{purchase.public_id}"
    assert params["mode"] == "payment"
    assert params["line_items"] == [{"price": pro_price, "quantity": "1"}]
    assert params["client_reference_id"] == purchase.public_id
    assert params["customer"] == user.stripe_customer_id
    assert params["metadata"]["purchase_id"] == purchase.public_id
    assert (
        params["success_url"]
        == "http://localhost/credits/purchase/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert (
        params["cancel_url"]
        == f"http://localhost/credits/purchase/cancel?purchase_id={purchase.public_id}"
    )
    assert int(params["expires_at"]) > 0


def test_one_customer_per_user(client, synced, buyer_token):
    client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    client.post(API, json={"package_code": "basic"}, headers=bearer(buyer_token))
    customers = synced.calls_to("POST", r"/v1/customers$")
    assert len(customers) == 1 and customers[0][3].startswith("credits-customer:")


def test_repeat_for_the_same_pack_returns_the_open_session(app, client, synced, buyer_token):
    first = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    again = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert again.status_code == 200 and again.json == first.json
    other = client.post(API, json={"package_code": "basic"}, headers=bearer(buyer_token))
    assert other.status_code == 201 and other.json["purchase_id"] != first.json["purchase_id"]
    assert len(synced.calls_to("POST", r"/v1/checkout/sessions$")) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 2


def test_an_expired_open_purchase_is_replaced(app, client, synced, buyer_token):
    from datetime import timedelta

    from app.models import utcnow

    first = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token)).json
    with app.app_context():
        row = db.session.scalar(select(Purchase))
        row.checkout_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    second = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert second.status_code == 201 and second.json["purchase_id"] != first["purchase_id"]
    with app.app_context():
        statuses = sorted(p.status for p in db.session.scalars(select(Purchase)))
        assert statuses == ["expired", "pending"]


@pytest.mark.parametrize("code", ["nope", "PRO ", "enterprise2"])
def test_unknown_pack_is_404(client, synced, buyer_token, code):
    response = client.post(API, json={"package_code": code}, headers=bearer(buyer_token))
    if code == "PRO ":
        assert response.status_code == 201  # codes are matched case- and space-insensitively
        return
    assert response.status_code == 404 and response.json["error"]["code"] == "unknown_package"


def test_inactive_pack_is_404(app, client, synced, buyer_token):
    with app.app_context():
        db.session.execute(
            db.text("update credit_packages set is_active = false where code = 'pro'")
        )
        db.session.commit()
    response = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert response.status_code == 404 and response.json["error"]["code"] == "unknown_package"


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        [],
        {},
        {"package": "pro"},
        {"package_code": 5},
        {"package_code": ""},
        {"package_code": None},
    ],
)
def test_missing_or_malformed_field_is_422(app, client, synced, buyer_token, body):
    kwargs = {"data": body} if isinstance(body, str) or body is None else {"json": body}
    response = client.post(API, headers=bearer(buyer_token), **kwargs)
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_error"
    with app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 0


def test_logged_out_api_is_401_and_page_redirects_to_log_in(client, synced):
    api = client.post(API, json={"package_code": "pro"})
    assert api.status_code == 401 and api.json["error"]["code"] == "unauthenticated"
    page = client.post("/credits/purchase", data={"package_code": "pro"})
    assert page.status_code == 302 and page.location.startswith("/login?next=")


def test_cookie_purchase_needs_csrf(app, client, synced, auth):
    with app.app_context():
        make_user()
    auth.login()
    missing = client.post(API, json={"package_code": "pro"})
    assert missing.status_code == 400 and missing.json["error"]["code"] == "csrf_failed"
    with app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 0
    ok = client.post(API, json={"package_code": "pro"}, headers={"X-CSRFToken": auth.csrf()})
    assert ok.status_code == 201


def test_page_form_redirects_to_checkout_with_303(app, client, synced, auth):
    with app.app_context():
        make_user()
    auth.login()
    response = client.post(
        "/credits/purchase", data={"package_code": "pro", "csrf_token": auth.csrf()}
    )
    assert response.status_code == 303
    assert response.location.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    htmx = client.post(
        "/credits/purchase",
        data={"package_code": "pro", "csrf_token": auth.csrf()},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == response.location


def test_stripe_error_is_502_and_the_purchase_failed(app, client, synced, buyer_token):
    synced.fail_next["create_session"] = 1
    response = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert response.status_code == 502 and response.json["error"]["code"] == "stripe_unavailable"
    with app.app_context():
        purchase = db.session.scalar(select(Purchase))
        assert purchase.status == "failed"
    retry = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert retry.status_code == 201


def test_stripe_unreachable_is_502(app, client, stripe_fake, buyer_token):
    # Not synced and no route for a connection: the pack has no price id yet.
    response = client.post(API, json={"package_code": "pro"}, headers=bearer(buyer_token))
    assert response.status_code == 502 and response.json["error"]["code"] == "stripe_unavailable"


def test_purchase_creation_is_rate_limited_per_user(tmp_path, stripe_fake):
    app = make_app(
        f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, PURCHASE_RATE_LIMIT="2 per hour"
    )
    with app.app_context():
        from app.domain.packs import seed_packages

        seed_packages()
        sync_packs()
        token = users.issue_token(make_user())
        other = users.issue_token(make_user("other@example.com"))
    client = app.test_client()
    codes = [
        client.post(API, json={"package_code": c}, headers=bearer(token)).status_code
        for c in ("pro", "basic", "starter")
    ]
    assert codes == [201, 201, 429]
    limited = client.post(API, json={"package_code": "starter"}, headers=bearer(token))
    assert limited.json["error"]["code"] == "rate_limited"
    assert client.post(API, json={"package_code": "pro"}, headers=bearer(other)).status_code == 201
    with app.app_context():
        db.engine.dispose()


# -- return pages ---------------------------------------------------------


def login_buyer(app, client):
    with app.app_context():
        user = make_user()
    Auth(client).login()
    return user


def test_success_page_renders_at_once_with_a_poll(app, client, synced):
    login_buyer(app, client)
    session_id = client.post(
        API, json={"package_code": "pro"}, headers={"X-CSRFToken": Auth(client).csrf()}
    ).json["session_id"]
    page = client.get(f"/credits/purchase/success?session_id={session_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Waiting for payment confirmation" in html and 'hx-trigger="every 1s"' in html
    assert 'aria-live="polite"' in html


def test_success_page_of_someone_else_is_404(app, client, synced):
    with app.app_context():
        other = make_purchase(make_user("other@example.com"))
        session_id = other.stripe_checkout_session_id
    login_buyer(app, client)
    assert client.get(f"/credits/purchase/success?session_id={session_id}").status_code == 404
    assert client.get("/credits/purchase/success").status_code == 404
    assert client.get("/credits/purchase/success?session_id=cs_test_nope").status_code == 404


def test_poll_of_a_paid_purchase_whose_webhook_never_came_fulfils_it(app, client, synced):
    login_buyer(app, client)
    body = client.post(
        API, json={"package_code": "pro"}, headers={"X-CSRFToken": Auth(client).csrf()}
    ).json
    url = f"/credits/purchase/{body['purchase_id']}/status"
    pending = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Waiting for payment" in pending
    synced.pay(body["session_id"])
    with app.app_context():
        db.session.execute(db.text("update purchases set last_checked_at = null"))
        db.session.commit()
    done = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Completed: 1,000 credits added" in done
    assert "hx-trigger" not in done  # polling stops at a terminal state
    assert (
        'id="header-balance"' in done and 'hx-swap-oob="true"' in done and "1,000 credits" in done
    )
    assert client.get("/api/v1/billing/credits/balance").json == {"balance": 1000}


def test_poll_asks_stripe_at_most_every_few_seconds(app, client, synced, monkeypatch):
    from datetime import timedelta

    import app.payments.fulfilment as fulfilment
    from app.models import utcnow

    # The poll's clock is driven, so how long the polls take cannot change what they see.
    now = [utcnow()]
    monkeypatch.setattr(fulfilment, "utcnow", lambda: now[0])
    login_buyer(app, client)
    body = client.post(
        API, json={"package_code": "pro"}, headers={"X-CSRFToken": Auth(client).csrf()}
    ).json

    def poll() -> None:
        client.get(
            f"/credits/purchase/{body['purchase_id']}/status", headers={"HX-Request": "true"}
        )

    for _ in range(5):
        poll()
    assert len(synced.calls_to("GET", r"/v1/checkout/sessions/cs_test_")) == 1
    now[0] += timedelta(seconds=app.config["STATUS_CHECK_SECONDS"])
    poll()
    assert len(synced.calls_to("GET", r"/v1/checkout/sessions/cs_test_")) == 2


def test_cancel_page_resume_and_cancel(app, client, synced):
    login_buyer(app, client)
    token = Auth(client).csrf()
    body = client.post(API, json={"package_code": "pro"}, headers={"X-CSRFToken": token}).json
    page = client.get(f"/credits/purchase/cancel?purchase_id={body['purchase_id']}").get_data(
        as_text=True
    )
    assert "Resume checkout" in page and body["checkout_url"] in page and "Cancel purchase" in page
    assert (
        client.post(f"/credits/purchase/{body['purchase_id']}/cancel").status_code == 400
    )  # no CSRF
    response = client.post(
        f"/credits/purchase/{body['purchase_id']}/cancel", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert "Purchase canceled" in client.get(response.location).get_data(as_text=True)
    assert synced.objects[body["session_id"]]["status"] == "expired"
    expire_calls = synced.calls_to("POST", r"/expire$")
    assert expire_calls[0][3] == f"credits-expire:{body['session_id']}"
    with app.app_context():
        purchase = db.session.scalar(select(Purchase))
        event = event_for(
            session_object(purchase, status="expired", payment_status="unpaid"),
            "checkout.session.expired",
        )
    assert deliver(client, event).json["outcome"] == "no_change"
    with app.app_context():
        assert db.session.scalar(select(Purchase)).status == "canceled"
        assert db.session.scalar(select(AuditLog).where(AuditLog.note == "canceled by the buyer"))


def test_cancel_after_payment_keeps_the_payment(app, client, synced):
    login_buyer(app, client)
    token = Auth(client).csrf()
    body = client.post(API, json={"package_code": "pro"}, headers={"X-CSRFToken": token}).json
    synced.pay(body["session_id"])
    client.post(f"/credits/purchase/{body['purchase_id']}/cancel", data={"csrf_token": token})
    with app.app_context():
        assert db.session.scalar(select(Purchase)).status == "completed"
    assert client.get("/api/v1/billing/credits/balance").json == {"balance": 1000}


def test_cancel_page_of_someone_else_is_404(app, client, synced):
    with app.app_context():
        other = make_purchase(make_user("other@example.com")).public_id
    login_buyer(app, client)
    assert client.get(f"/credits/purchase/cancel?purchase_id={other}").status_code == 404
    token = Auth(client).csrf()
    assert (
        client.post(f"/credits/purchase/{other}/cancel", data={"csrf_token": token}).status_code
        == 404
    )


# -- reading purchases --------------------------------------------------------


def test_own_purchases_newest_first_with_cursor(app, client, buyer_token):
    with app.app_context():
        user = db.session.scalar(select(User))
        made = [
            make_purchase(user, code).public_id
            for code in ("starter", "basic", "pro", "premium", "enterprise")
        ]
        make_purchase(make_user("other@example.com"))
    first = client.get(
        "/api/v1/billing/credits/purchases?limit=2", headers=bearer(buyer_token)
    ).json
    assert [p["id"] for p in first["data"]] == made[::-1][:2]
    second = client.get(
        f"/api/v1/billing/credits/purchases?limit=2&cursor={first['next_cursor']}",
        headers=bearer(buyer_token),
    ).json
    third = client.get(
        f"/api/v1/billing/credits/purchases?limit=2&cursor={second['next_cursor']}",
        headers=bearer(buyer_token),
    ).json
    assert [p["id"] for p in first["data"] + second["data"] + third["data"]] == made[::-1]
    assert third["next_cursor"] is None
    item = first["data"][0]
    assert set(item) == {
        "id",
        "status",
        "package_code",
        "package_name",
        "credits",
        "amount_cents",
        "currency",
        "created_at",
        "completed_at",
    }
    assert item["created_at"].endswith("Z")


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=abc"])
def test_bad_paging_is_422(client, buyer_token, query):
    response = client.get(f"/api/v1/billing/credits/purchases?{query}", headers=bearer(buyer_token))
    assert response.status_code == 422


def test_another_users_purchase_is_404(app, client, buyer_token):
    with app.app_context():
        mine = make_purchase(db.session.scalar(select(User))).public_id
        theirs = make_purchase(make_user("other@example.com")).public_id
    assert (
        client.get(
            f"/api/v1/billing/credits/purchases/{mine}", headers=bearer(buyer_token)
        ).status_code
        == 200
    )
    response = client.get(
        f"/api/v1/billing/credits/purchases/{theirs}", headers=bearer(buyer_token)
    )
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_admin_list_is_403_for_buyers_and_filters_for_admins(app, client, buyer_token):
    assert (
        client.get(
            "/api/v1/admin/billing/credits/purchases", headers=bearer(buyer_token)
        ).status_code
        == 403
    )
    assert client.get("/api/v1/admin/billing/credits/purchases").status_code == 401
    with app.app_context():
        buyer = db.session.scalar(select(User))
        other = make_user("other@example.com")
        make_purchase(buyer, "pro", status="completed")
        make_purchase(other, "basic")
        make_purchase(other, "starter", status="failed")
        admin_token = users.issue_token(make_user("boss@example.com", admin=True))
    url = "/api/v1/admin/billing/credits/purchases"
    everything = client.get(url, headers=bearer(admin_token)).json["data"]
    assert len(everything) == 3 and {p["user_email"] for p in everything} == {
        "buyer@example.com",
        "other@example.com",
    }
    assert [
        p["package_code"]
        for p in client.get(f"{url}?status=failed", headers=bearer(admin_token)).json["data"]
    ] == ["starter"]
    assert len(client.get(f"{url}?email=other@", headers=bearer(admin_token)).json["data"]) == 2
    assert (
        len(
            client.get(
                f"{url}?created_from=2000-01-01&created_to=2999-01-01", headers=bearer(admin_token)
            ).json["data"]
        )
        == 3
    )
    assert (
        client.get(f"{url}?created_to=2000-01-01", headers=bearer(admin_token)).json["data"] == []
    )
    assert client.get(f"{url}?status=bogus", headers=bearer(admin_token)).status_code == 422
    assert (
        client.get(f"{url}?created_from=yesterday", headers=bearer(admin_token)).status_code == 422
    )


def test_balance_after_purchase_and_webhook_end_to_end(app, client, synced, buyer_token):
    body = client.post(API, json={"package_code": "enterprise"}, headers=bearer(buyer_token)).json
    session = synced.pay(body["session_id"])
    assert (
        deliver(client, event_for(session, "checkout.session.completed")).json["outcome"]
        == "credited"
    )
    assert client.get("/api/v1/billing/credits/balance", headers=bearer(buyer_token)).json == {
        "balance": 10000
    }
    listed = client.get(
        f"/api/v1/billing/credits/purchases/{body['purchase_id']}", headers=bearer(buyer_token)
    ).json
    assert listed["status"] == "completed" and listed["completed_at"]
    with app.app_context():
        assert ledger.verify() == []
    assert parse_qs(urlsplit(session["success_url"]).query)["session_id"] == [
        "{CHECKOUT_SESSION_ID}"
    ]
