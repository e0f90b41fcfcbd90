"""Admin pages through the test client: access, filters, refunds, grants, tokens, reviews."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app import ledger
from app.extensions import db
from app.models import ApiToken, AuditLog, Purchase
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.logins import Auth
from tests.helpers.stripe_events import deliver, event_for, session_object

ADMIN_PAGES = [
    ("get", "/admin/credits/purchases"),
    ("get", "/admin/credits/purchases?status=completed"),
    ("get", "/admin/credits/purchases.csv"),
    ("get", "/admin/credits/purchases/summary"),
    ("get", "/admin/credits/purchases/{pid}"),
    ("post", "/admin/credits/purchases/{pid}/refund"),
    ("post", "/admin/credits/purchases/{pid}/resolve"),
    ("get", "/admin/users"),
    ("get", "/admin/users/{uid}"),
    ("post", "/admin/users/{uid}/grant"),
    ("post", "/admin/users/{uid}/tokens"),
    ("post", "/admin/users/{uid}/tokens/1/revoke"),
    ("get", "/api/v1/admin/billing/credits/purchases"),
    ("get", "/api/v1/admin/billing/credits/purchases/{pid}"),
]


@pytest.fixture
def people(app):
    with app.app_context():
        buyer = make_user()
        admin = make_user("boss@example.com", admin=True)
        purchase = make_purchase(buyer)
        return {"buyer": buyer.id, "admin": admin.id, "pid": purchase.public_id}


def csrf(client) -> str:
    return Auth(client).csrf()


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_buyer_gets_403_on_every_admin_page_and_partial(client, people, method, path, htmx):
    Auth(client).login()
    headers = {"X-CSRFToken": csrf(client)}
    if htmx:
        headers["HX-Request"] = "true"
    url = path.format(pid=people["pid"], uid=people["buyer"])
    response = getattr(client, method)(url, headers=headers)
    assert response.status_code == 403


def test_the_legacy_buy_path_is_the_one_admin_prefixed_exception(client, people):
    Auth(client).login()
    assert client.get("/admin/credits/purchase").status_code == 301


@pytest.fixture
def admin_client(client, people):
    Auth(client).login("boss@example.com")
    return client


def test_purchases_page_filters_and_partial(app, admin_client, people):
    page = admin_client.get("/admin/credits/purchases").get_data(as_text=True)
    assert 'id="admin-filters"' in page and "Download CSV" in page
    assert 'hx-get="/admin/credits/purchases/summary"' in page  # totals load on their own
    assert people["pid"] in page
    partial = admin_client.get(
        "/admin/credits/purchases?status=failed", headers={"HX-Request": "true"}
    )
    text = partial.get_data(as_text=True)
    assert text.lstrip().startswith('<section id="admin-purchases"') and people["pid"] not in text
    assert "No purchases match" in text
    bad = admin_client.get("/admin/credits/purchases?created_from=nope").get_data(as_text=True)
    assert "created_from must be a date like 2026-03-01" in bad


def test_the_summary_adds_up_the_filtered_purchases(app, admin_client, people):
    partial = admin_client.get(
        "/admin/credits/purchases/summary?status=pending", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="admin-summary">')
    assert "Net revenue, last 30 days" in partial and 'data-count="pending">1<' in partial
    page = admin_client.get("/admin/credits/purchases/summary?status=failed").get_data(as_text=True)
    assert "<h1>Totals</h1>" in page and 'data-count="pending"' not in page
    assert admin_client.get("/admin/credits/purchases/summary?status=nope").status_code == 422


def test_csv_link_keeps_the_filters(admin_client, people):
    page = admin_client.get("/admin/credits/purchases?status=pending&email=buyer").get_data(
        as_text=True
    )
    assert "/admin/credits/purchases.csv?status=pending&amp;email=buyer" in page


@pytest.fixture
def paid_purchase(app, client, stripe_fake, people):
    with app.app_context():
        purchase = db.session.scalar(select(Purchase).where(Purchase.public_id == people["pid"]))
        intent = stripe_fake.add_charge(8500)
        deliver(
            client,
            event_for(
                session_object(purchase, payment_intent=intent), "checkout.session.completed"
            ),
        )
    return intent


def test_refund_form_asks_for_confirmation_then_refunds_once(
    app, admin_client, people, stripe_fake, paid_purchase
):
    url = f"/admin/credits/purchases/{people['pid']}"
    page = admin_client.get(url).get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page).group(1)
    token = csrf(admin_client)
    form = {"csrf_token": token, "amount": "17.00", "idempotency_key": key}
    review = admin_client.post(f"{url}/refund", data=form, headers={"HX-Request": "true"})
    text = review.get_data(as_text=True)
    assert review.status_code == 200 and "Refund $17.00" in text and "Confirm refund" in text
    assert "taking back 200 credits" in text  # ceil(1000 x 1700 / 8500)
    assert stripe_fake.calls_to("POST", r"/v1/refunds$") == []
    confirmed = {**form, "confirm": "yes"}
    done = admin_client.post(f"{url}/refund", data=confirmed, headers={"HX-Request": "true"})
    done_text = done.get_data(as_text=True)
    assert "Refund of $17.00 sent to Stripe" in done_text
    # What is left counts the refund at once, before Stripe's event for it arrives.
    assert "all that is left: $68.00" in done_text
    admin_client.post(
        f"{url}/refund", data=confirmed, headers={"HX-Request": "true"}
    )  # double submit
    assert len(stripe_fake.calls_to("POST", r"/v1/refunds$")) == 1
    charge = stripe_fake.charge_for(paid_purchase)
    deliver(admin_client, event_for(dict(charge), "charge.refunded"))
    with app.app_context():
        assert ledger.balance(people["buyer"]) == 1000 - 200


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "is not an amount"),
        ("0", "more than zero"),
        ("85.01", "is left to refund"),
        ("1.001", "decimal places"),
    ],
)
def test_refund_errors_show_inline(admin_client, people, paid_purchase, amount, message):
    url = f"/admin/credits/purchases/{people['pid']}/refund"
    response = admin_client.post(
        url,
        data={"csrf_token": csrf(admin_client), "amount": amount, "idempotency_key": "k"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#refund-panel"
    assert message in response.get_data(as_text=True)


def test_grant_and_deduct_with_a_reason_are_audited(app, admin_client, people):
    url = f"/admin/users/{people['buyer']}"
    token = csrf(admin_client)
    missing = admin_client.post(
        f"{url}/grant",
        data={"csrf_token": token, "amount": "50", "reason": "", "idempotency_key": "a"},
    )
    assert missing.status_code == 422
    ok = admin_client.post(
        f"{url}/grant",
        data={"csrf_token": token, "amount": "50", "reason": "goodwill", "idempotency_key": "b"},
    )
    assert ok.status_code == 303
    again = admin_client.post(
        f"{url}/grant",
        data={"csrf_token": token, "amount": "50", "reason": "goodwill", "idempotency_key": "b"},
    )
    assert again.status_code == 303  # the same form submitted twice grants once
    admin_client.post(
        f"{url}/grant",
        data={"csrf_token": token, "amount": "-80", "reason": "chargeback", "idempotency_key": "c"},
    )
    page = admin_client.get(url).get_data(as_text=True)
    assert "Owes 30 credits" in page
    with app.app_context():
        assert ledger.balance(people["buyer"]) == -30
        notes = [
            a.note
            for a in db.session.scalars(
                select(AuditLog).where(AuditLog.action == "credits.adjusted")
            )
        ]
        assert notes == ["goodwill", "chargeback"]


def test_tokens_are_created_shown_once_and_revoked(app, admin_client, people):
    url = f"/admin/users/{people['buyer']}"
    created = admin_client.post(
        f"{url}/tokens", data={"csrf_token": csrf(admin_client), "name": "ci"}
    )
    token = re.search(
        r'id="new-token" class="token">(crd_[^<]+)<', created.get_data(as_text=True)
    ).group(1)
    assert (
        admin_client.get(
            "/api/v1/billing/credits/balance", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert token not in admin_client.get(url).get_data(as_text=True)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    revoke = admin_client.post(
        f"{url}/tokens/{token_id}/revoke", data={"csrf_token": csrf(admin_client)}
    )
    assert revoke.status_code == 303
    fresh = app.test_client()
    assert (
        fresh.get(
            "/api/v1/billing/credits/balance", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


def test_user_search(admin_client, people):
    html = admin_client.get("/admin/users?q=buyer", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "buyer@example.com" in html and "boss@example.com" not in html


def test_resolve_form_on_a_needs_review_purchase(app, admin_client, client, people):
    with app.app_context():
        purchase = db.session.scalar(select(Purchase).where(Purchase.public_id == people["pid"]))
        deliver(
            client,
            event_for(session_object(purchase, currency="eur"), "checkout.session.completed"),
        )
    url = f"/admin/credits/purchases/{people['pid']}"
    page = admin_client.get(url).get_data(as_text=True)
    assert "Needs review" in page and "currency &#39;eur&#39;" in page
    token = csrf(admin_client)
    no_note = admin_client.post(
        f"{url}/resolve", data={"csrf_token": token, "action": "credit", "note": ""}
    )
    assert no_note.status_code == 422
    done = admin_client.post(
        f"{url}/resolve",
        data={"csrf_token": token, "action": "credit", "note": "paid in EUR by mistake; honoured"},
    )
    assert done.status_code == 303
    with app.app_context():
        assert ledger.balance(people["buyer"]) == 1000
