"""Bad input gets a clear 4xx and changes nothing: amounts past their bounds, NUL characters
anywhere, and signed events whose shape no handler can use."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import ledger
from app.domain import users
from app.errors import ValidationFailed
from app.extensions import db
from app.models import AuditLog, LedgerTransaction, Purchase, StripeEvent
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object, sign

SPEND = "/api/v1/billing/credits/spend"


def footprint() -> tuple:
    """Everything a request could have written."""
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Purchase, LedgerTransaction, AuditLog, StripeEvent)
    )


@pytest.fixture
def buyer(db_app: Flask):
    """A buyer with 100 credits, a pending purchase and a bearer token, on both engines."""
    with db_app.app_context():
        user = make_user()
        ledger.adjust(user, 100, "starting balance", actor="test")
        purchase = make_purchase(user)
        token = users.issue_token(user)
        return {"Authorization": f"Bearer {token}"}, purchase.public_id, user.id


@pytest.mark.parametrize("amount", [10**30, 2**63, 2**63 - 1, 10**9 + 1, -(10**30)])
def test_spend_past_the_credit_bound_is_422_and_writes_nothing(db_app, buyer, amount):
    headers, _, user_id = buyer
    with db_app.app_context():
        before = footprint()
    response = db_app.test_client().post(
        SPEND, json={"amount": amount, "idempotency_key": "k"}, headers=headers
    )
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    with db_app.app_context():
        assert footprint() == before and ledger.balance(user_id) == 100


def test_spend_at_the_bound_is_checked_against_the_balance(db_app, buyer):
    headers, _, _ = buyer
    response = db_app.test_client().post(
        SPEND, json={"amount": 10**9, "idempotency_key": "k"}, headers=headers
    )
    assert response.status_code == 402 and response.json["error"]["code"] == "insufficient_credits"


def test_grants_past_the_bound_are_refused(db_app, buyer):
    _, _, user_id = buyer
    with db_app.app_context():
        user = db.session.get(users.User, user_id)
        for amount in (10**9 + 1, -(10**9 + 1), 10**30):
            with pytest.raises(ValidationFailed, match="at most 1,000,000,000 credits"):
                ledger.adjust(user, amount, "too much", actor="test")
        assert ledger.balance(user_id) == 100


def test_the_bounds_come_from_config(tmp_path):
    from tests.helpers.apps import dispose, make_app
    from tests.helpers.databases import database_url

    app = make_app(database_url("sqlite", tmp_path), tmp_path, MAX_CREDITS_PER_REQUEST=50)
    try:
        with app.app_context():
            user = make_user()
            with pytest.raises(ValidationFailed, match="at most 50 credits"):
                ledger.adjust(user, 51, "over the configured bound", actor="test")
            ledger.adjust(user, 50, "at the configured bound", actor="test")
    finally:
        dispose(app)


def test_a_spend_key_reused_for_another_amount_names_the_callers_key(db_app, buyer):
    headers, _, _ = buyer
    client = db_app.test_client()
    client.post(SPEND, json={"amount": 5, "idempotency_key": "k1"}, headers=headers)
    response = client.post(SPEND, json={"amount": 6, "idempotency_key": "k1"}, headers=headers)
    assert response.status_code == 409
    message = response.json["error"]["message"]
    assert "'k1'" in message and "spend:" not in message


NUL = "\u0000"


def nul_requests(public_id: str) -> list[tuple[str, str, dict]]:
    """(method, url, request options) for requests each carrying a NUL somewhere."""
    return [
        ("POST", SPEND, {"json": {"amount": 1, "idempotency_key": f"k{NUL}"}}),
        ("POST", SPEND, {"json": {"amount": 1, "idempotency_key": "k", "description": NUL}}),
        ("POST", SPEND, {"json": {"amount": 1, "idempotency_key": "k", NUL: "key"}}),
        ("POST", "/api/v1/billing/credits/purchase", {"json": {"package_code": f"pro{NUL}"}}),
        ("POST", "/api/v1/billing/credits/purchase", {"json": {"package_code": [NUL]}}),
        ("GET", f"/api/v1/billing/credits/purchases/{public_id}%00", {}),
        ("GET", "/api/v1/billing/credits/purchases/%00", {}),
        ("GET", "/api/v1/billing/credits/transactions?cursor=%00", {}),
        ("GET", "/api/v1/billing/credits/purchases?limit=1%00", {}),
        ("GET", "/api/v1/admin/billing/credits/purchases?email=%00", {}),
        ("GET", "/credits/history?cursor=a%00b", {}),
        ("GET", "/no/such/page/%00", {}),
    ]


def test_a_nul_anywhere_is_400_on_both_engines(db_app, buyer):
    headers, public_id, _ = buyer
    with db_app.app_context():
        before = footprint()
    client = db_app.test_client()
    for method, url, options in nul_requests(public_id):
        response = client.open(url, method=method, headers=headers, **options)
        assert response.status_code == 400, (url, options, response.status_code)
        if url.startswith("/api/"):
            assert response.json["error"]["code"] == "bad_request", url
        else:
            assert "NUL characters" in response.get_data(as_text=True), url
    with db_app.app_context():
        assert footprint() == before


def test_a_nul_in_a_form_is_400(app, client, auth):
    with app.app_context():
        make_user()
    response = client.post("/login", data={"email": f"buyer@example.com{NUL}", "password": "x"})
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


def poison_events(purchase: Purchase) -> dict[str, dict]:
    session = session_object(purchase)
    charge = {"id": "ch_poison", "object": "charge", "amount_refunded": 100}
    return {
        "object id a list": event_for({**session, "id": ["cs", "x"]}, "checkout.session.completed"),
        "reference a number": event_for(
            {**session, "client_reference_id": 7}, "checkout.session.completed"
        ),
        "currency a number": event_for({**session, "currency": 840}, "checkout.session.completed"),
        "refund without its charge id": event_for(
            {k: v for k, v in charge.items() if k != "id"}, "charge.refunded"
        ),
        "NUL in the charge id": event_for({**charge, "id": f"ch{NUL}x"}, "charge.refunded"),
        "charge id over 255": event_for({**charge, "id": "ch_" + "x" * 300}, "charge.refunded"),
        "dispute without a charge": event_for(
            {"id": "dp_1", "object": "dispute", "status": "lost"}, "charge.dispute.created"
        ),
        "NUL in the session's intent": event_for(
            {**session, "payment_intent": f"pi{NUL}"}, "checkout.session.completed"
        ),
    }


POISON_CASES = [
    "object id a list",
    "reference a number",
    "currency a number",
    "refund without its charge id",
    "NUL in the charge id",
    "charge id over 255",
    "dispute without a charge",
    "NUL in the session's intent",
]


@pytest.mark.parametrize("case", POISON_CASES)
def test_a_signed_poison_event_is_acknowledged_recorded_and_changes_nothing(
    db_app, stripe_fake, case, caplog
):
    with db_app.app_context():
        purchase = make_purchase(make_user())
        event = poison_events(purchase)[case]
        before = footprint()
    client = db_app.test_client()
    response = deliver(client, event)
    assert response.status_code == 200, response.json
    assert response.json["outcome"] == "malformed"
    assert any(r.levelname == "ERROR" and "malformed" in r.getMessage() for r in caplog.records)
    assert deliver(client, event).json["outcome"] == "duplicate"
    assert stripe_fake.calls == []
    with db_app.app_context():
        purchases, transactions, audits, events = footprint()
        assert (purchases, transactions, audits, events) == (*before[:3], before[3] + 1)
        recorded = db.session.scalar(select(StripeEvent).where(StripeEvent.outcome == "malformed"))
        assert recorded.event_id == event["id"] and recorded.detail
        assert db.session.get(Purchase, purchase.id).status == "pending"


@pytest.mark.parametrize("event_id", [f"evt_{NUL}", "evt_" + "x" * 300, ""])
def test_an_unusable_event_id_is_recorded_under_the_bodys_sha256(db_app, event_id):
    with db_app.app_context():
        purchase = make_purchase(make_user())
        event = event_for(session_object(purchase), "checkout.session.completed")
        event["id"] = event_id
    body = json.dumps(event)
    client = db_app.test_client()
    headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
    response = client.post("/api/v1/billing/credits/webhook", data=body, headers=headers)
    assert response.status_code == 200 and response.json["outcome"] == "malformed"
    with db_app.app_context():
        recorded = db.session.scalar(select(StripeEvent).where(StripeEvent.outcome == "malformed"))
        assert recorded.event_id == "sha256:" + hashlib.sha256(body.encode()).hexdigest()
        assert db.session.get(Purchase, purchase.id).status == "pending"


def test_admins_see_malformed_events(app, client, auth):
    with app.app_context():
        make_user("admin@example.com", admin=True)
        purchase = make_purchase(make_user())
        event = event_for({**session_object(purchase), "id": [1]}, "checkout.session.completed")
    deliver(client, event)
    auth.login("admin@example.com")
    html = client.get("/admin/stripe-events").get_data(as_text=True)
    assert event["id"] in html and "data.object.id is not an id" in html
    assert client.get("/admin/stripe-events?outcome=nonsense").status_code == 422


def test_a_charge_stripe_does_not_have_is_unknown_not_retried(db_app, stripe_fake):
    event = event_for({"id": "ch_gone", "object": "charge"}, "charge.refunded")
    response = deliver(db_app.test_client(), event)
    assert response.status_code == 200 and response.json["outcome"] == "unknown_charge"
    with db_app.app_context():
        recorded = db.session.scalar(select(StripeEvent).where(StripeEvent.event_id == event["id"]))
        assert recorded.outcome == "unknown_charge"


def test_a_transient_stripe_failure_is_5xx_and_recorded_nowhere(db_app, stripe_fake, caplog):
    stripe_fake.fail_next["retrieve"] = 1
    event = event_for({"id": "ch_any", "object": "charge"}, "charge.refunded")
    response = deliver(db_app.test_client(), event)
    assert response.status_code == 502 and response.json["error"]["code"] == "stripe_unavailable"
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(m.startswith("Stripe call failed: retrieve charge: ") for m in failed), failed
    with db_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
