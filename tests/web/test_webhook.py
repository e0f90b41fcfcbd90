"""The webhook: every rejected delivery changes nothing; accepted ones have exactly their effect."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import func, select

from app import ledger
from app.extensions import db, limiter
from app.models import AuditLog, Purchase, StripeEvent
from tests.helpers.apps import WEBHOOK_SECRET, dispose, make_app
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.databases import database_url
from tests.helpers.stripe_events import deliver, event_for, session_object, sign

URL = "/api/v1/billing/credits/webhook"


@pytest.fixture
def purchase(ctx):
    return make_purchase(make_user())


def state(purchase: Purchase) -> tuple:
    db.session.expire_all()
    row = db.session.get(Purchase, purchase.id)
    return (
        row.status,
        ledger.balance(row.user_id),
        db.session.scalar(select(func.count(StripeEvent.id))),
    )


def post_raw(client, body: bytes | str, header: str | None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post(URL, data=body, headers=headers)


def paid_event(purchase: Purchase) -> str:
    return json.dumps(event_for(session_object(purchase), "checkout.session.completed"))


BAD_DELIVERIES = {
    "no header": lambda body: (body, None),
    "malformed header": lambda body: (body, "garbage"),
    "non-numeric timestamp": lambda body: (body, "t=abc,v1=00"),
    "wrong secret": lambda body: (body, sign(body, secret="whsec_wrong")),
    "body changed by one byte": lambda body: (body.replace("complete", "completf", 1), sign(body)),
    "timestamp older than 300 s": lambda body: (body, sign(body, timestamp=int(time.time()) - 301)),
    "timestamp an hour ahead": lambda body: (body, sign(body, timestamp=int(time.time()) + 3600)),
    "no v1 signature": lambda body: (body, sign(body).replace("v1=", "v0=")),
    "signed non-JSON": lambda body: ("not json at all", sign("not json at all")),
    "signed JSON that is not an event": lambda body: ('{"id": 1}', sign('{"id": 1}')),
    "signed non-UTF-8": lambda body: (b"\xff\xfe", f"t={int(time.time())},v1=00"),
}


@pytest.mark.parametrize("case", BAD_DELIVERIES)
def test_bad_deliveries_are_400_and_change_nothing(client, purchase, case):
    before = state(purchase)
    body, header = BAD_DELIVERIES[case](paid_event(purchase))
    response = post_raw(client, body, header)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request"
    assert state(purchase) == before == ("pending", 0, 0)


def test_oversized_body_is_413_and_changes_nothing(client, purchase):
    body = json.dumps({**json.loads(paid_event(purchase)), "padding": "x" * 300_000})
    response = post_raw(client, body, sign(body))
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert state(purchase) == ("pending", 0, 0)


def test_live_event_with_a_test_key_is_refused(client, purchase):
    event = event_for(session_object(purchase), "checkout.session.completed")
    event["livemode"] = True
    assert deliver(client, event).status_code == 400
    assert state(purchase) == ("pending", 0, 0)


def test_valid_event_credits_once_and_a_repeat_changes_nothing(client, purchase):
    event = event_for(session_object(purchase), "checkout.session.completed")
    first = deliver(client, event)
    assert first.status_code == 200 and first.json == {"received": True, "outcome": "credited"}
    again = deliver(client, event)
    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    assert state(purchase) == ("completed", 1000, 1)
    row = db.session.get(Purchase, purchase.id)
    assert row.completed_at is not None and row.stripe_payment_intent_id.startswith("pi_")
    assert ledger.verify() == []


def test_a_second_valid_v1_signature_is_accepted(client, purchase):
    body = paid_event(purchase)
    header = sign(body)
    timestamp, good = header.split(",")
    rotated = f"{timestamp},v1={'0' * 64},{good}"
    assert post_raw(client, body, rotated).status_code == 200
    assert state(purchase)[:2] == ("completed", 1000)


def test_any_configured_secret_verifies(app, client, purchase):
    app.config["STRIPE_WEBHOOK_SECRET"] = f"whsec_new_one, {WEBHOOK_SECRET}"
    assert (
        deliver(
            client, event_for(session_object(purchase), "checkout.session.completed")
        ).status_code
        == 200
    )
    event = event_for(session_object(purchase), "checkout.session.completed")
    assert deliver(client, event, secret="whsec_new_one").status_code == 200
    assert deliver(client, event, secret="whsec_other").status_code == 400


def test_unknown_event_type_is_acknowledged_and_ignored(client, purchase):
    response = deliver(client, event_for({"id": "cus_1", "object": "customer"}, "customer.created"))
    assert response.status_code == 200 and response.json["outcome"] == "ignored"
    assert state(purchase) == ("pending", 0, 1)


def test_unpaid_completed_session_is_processing_and_credits_nothing(client, purchase):
    obj = session_object(purchase, payment_status="unpaid")
    response = deliver(client, event_for(obj, "checkout.session.completed"))
    assert response.json["outcome"] == "processing"
    assert state(purchase)[:2] == ("processing", 0)
    succeeded = deliver(
        client, event_for(session_object(purchase), "checkout.session.async_payment_succeeded")
    )
    assert succeeded.json["outcome"] == "credited"
    assert state(purchase)[:2] == ("completed", 1000)


def test_async_payment_failure_fails_the_purchase(client, purchase):
    deliver(
        client,
        event_for(session_object(purchase, payment_status="unpaid"), "checkout.session.completed"),
    )
    response = deliver(
        client,
        event_for(
            session_object(purchase, payment_status="unpaid"),
            "checkout.session.async_payment_failed",
        ),
    )
    assert response.json["outcome"] == "failed"
    assert state(purchase)[:2] == ("failed", 0)


@pytest.mark.parametrize(
    ("override", "reason"),
    [({"amount_total": 100}, "amount 100 != 8500"), ({"currency": "eur"}, "currency 'eur'")],
)
def test_amount_or_currency_mismatch_needs_review(client, purchase, caplog, override, reason):
    caplog.set_level(logging.ERROR)
    response = deliver(
        client, event_for(session_object(purchase, **override), "checkout.session.completed")
    )
    assert response.status_code == 200 and response.json["outcome"] == "mismatch"
    assert state(purchase)[:2] == ("needs_review", 0)
    row = db.session.get(Purchase, purchase.id)
    assert reason in row.review_reason
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "purchase.mismatch"))
    assert reason in audit.note
    assert any(reason in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_metadata_is_not_trusted(client, purchase):
    """Credits, amount and owner come from our row, whatever the metadata claims."""
    obj = session_object(
        purchase, metadata={"credits": "999999", "user_id": "42", "package_code": "enterprise"}
    )
    deliver(client, event_for(obj, "checkout.session.completed"))
    assert state(purchase)[:2] == ("completed", 1000)


def test_unknown_session_is_acknowledged_and_recorded(client, purchase):
    obj = session_object(purchase, id="cs_test_unknown", client_reference_id="pur_nope")
    response = deliver(client, event_for(obj, "checkout.session.completed", "evt_unknown"))
    assert response.status_code == 200 and response.json["outcome"] == "unknown_session"
    recorded = db.session.scalar(select(StripeEvent).where(StripeEvent.event_id == "evt_unknown"))
    assert recorded.outcome == "unknown_session" and recorded.object_id == "cs_test_unknown"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "stripe.unknown_session"))
    assert state(purchase)[:2] == ("pending", 0)


def test_session_we_never_stored_is_linked_by_our_reference(client, ctx):
    purchase = make_purchase(make_user())
    purchase.stripe_checkout_session_id = None
    db.session.commit()
    obj = session_object(purchase, id="cs_test_lost")
    assert (
        deliver(client, event_for(obj, "checkout.session.completed")).json["outcome"] == "credited"
    )
    row = db.session.get(Purchase, purchase.id)
    assert row.stripe_checkout_session_id == "cs_test_lost" and row.status == "completed"


def test_expired_event_expires_a_pending_purchase_only(client, ctx):
    user = make_user()
    pending = make_purchase(user, "starter")
    canceled = make_purchase(user, "basic", status="canceled")
    for p in (pending, canceled):
        deliver(
            client,
            event_for(
                session_object(p, status="expired", payment_status="unpaid"),
                "checkout.session.expired",
            ),
        )
    assert state(pending)[0] == "expired"
    assert state(canceled)[0] == "canceled"


def test_paid_after_expiry_still_credits_and_is_audited(client, ctx):
    purchase = make_purchase(make_user(), status="expired")
    deliver(client, event_for(session_object(purchase), "checkout.session.completed"))
    assert state(purchase)[:2] == ("completed", 1000)
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "purchase.status_changed")
    ).all()
    assert audit[-1].note == "paid after expired"


def test_completed_never_goes_back(client, purchase):
    deliver(client, event_for(session_object(purchase), "checkout.session.async_payment_succeeded"))
    deliver(
        client,
        event_for(session_object(purchase, payment_status="unpaid"), "checkout.session.completed"),
    )
    deliver(
        client,
        event_for(
            session_object(purchase, payment_status="unpaid"),
            "checkout.session.async_payment_failed",
        ),
    )
    deliver(
        client, event_for(session_object(purchase, status="expired"), "checkout.session.expired")
    )
    assert state(purchase)[:2] == ("completed", 1000)


def test_database_failure_is_500_with_nothing_half_written(client, purchase, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import app.payments.fulfilment as fulfilment

    real_grant = fulfilment._grant

    def broken(*args, **kwargs):
        real_grant(*args, **kwargs)
        raise OperationalError("INSERT", {}, Exception("database went away"))

    monkeypatch.setattr(fulfilment, "_grant", broken)
    event = event_for(session_object(purchase), "checkout.session.completed")
    response = deliver(client, event)
    assert response.status_code == 500
    assert state(purchase) == ("pending", 0, 0)
    monkeypatch.setattr(fulfilment, "_grant", real_grant)
    assert deliver(client, event).json["outcome"] == "credited"
    assert state(purchase) == ("completed", 1000, 1)
    assert ledger.verify() == []


def test_webhook_is_never_rate_limited_nor_csrf_checked(tmp_path):
    # Flask-Limiter reads its limits when the app is built, so they are set up front: every
    # other endpoint gets one request per hour. The client is logged in by cookie and sends
    # no CSRF token, so without the webhook's exemptions both checks would refuse it.
    app = make_app(
        database_url("sqlite", tmp_path),
        tmp_path,
        RATELIMIT_DEFAULT="1 per hour",
        RATELIMIT_APPLICATION="1 per hour",
    )
    try:
        with app.app_context():
            user_id = make_user().id
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = str(user_id)
            session["_fresh"] = True
        for _ in range(5):
            event = event_for({"id": "x", "object": "customer"}, "customer.updated")
            response = deliver(client, event)
            assert response.status_code == 200, response.get_data(as_text=True)
        # Both checks are in force for this client everywhere else: an unsafe request without
        # a token is refused, and the request after it is over the limit.
        forged = client.post("/api/v1/billing/credits/purchase", json={"package_code": "pro"})
        assert forged.status_code == 400 and forged.json["error"]["code"] == "csrf_failed"
        limited = client.get("/api/v1/billing/credits/balance")
        assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    finally:
        dispose(app)
        # The extension is one object for every app in the process and keeps the limits it
        # read first: later apps must not inherit one request per hour.
        limiter.limit_manager.set_application_limits([])
        limiter.limit_manager.set_default_limits([])
