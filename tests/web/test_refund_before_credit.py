"""A refund or dispute that reaches us before its purchase is credited is kept, and settled in
the transaction that credits the purchase, by the webhook, the return page or reconciliation."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app import ledger
from app.extensions import db
from app.models import Purchase, StripeEvent
from app.payments.fulfilment import fulfil_checkout
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.logins import Auth
from tests.helpers.stripe_events import deliver, event_for, session_object


def lost_webhook_then_refund(app: Flask, fake, *, refund: int = 8500, dispute: bool = False):
    """A purchase paid at Stripe whose completion event is lost, then refunded (and maybe
    disputed) there; the refund's event arrives first. Return the ids and the late session."""
    with app.app_context():
        user = make_user()
        purchase = make_purchase(user)
        intent = fake.add_charge(purchase.amount_cents)
        session = session_object(purchase, payment_intent=intent)
        fake.objects[session["id"]] = session
        ids = purchase.id, user.id
    fake.refund(intent, refund)
    client = app.test_client()
    answer = deliver(client, event_for(dict(fake.charge_for(intent)), "charge.refunded"))
    assert answer.json["outcome"] == "unknown_charge"
    if dispute:
        answer = deliver(client, event_for(fake.dispute(intent), "charge.dispute.created"))
        assert answer.json["outcome"] == "unknown_charge"
    with app.app_context():
        recorded = db.session.scalars(
            select(StripeEvent).where(StripeEvent.outcome == "unknown_charge")
        ).all()
        assert {e.payment_intent_id for e in recorded} == {intent}
    return ids, session


def credited_and_settled(app: Flask, purchase_id: int, user_id: int, status: str, balance: int):
    with app.app_context():
        purchase = db.session.get(Purchase, purchase_id)
        assert purchase.status == status
        assert ledger.balance(user_id) == balance
        assert ledger.verify() == []


def test_the_late_completion_event_settles_the_early_refund(db_app, stripe_fake):
    (purchase_id, user_id), session = lost_webhook_then_refund(db_app, stripe_fake)
    answer = deliver(db_app.test_client(), event_for(session, "checkout.session.completed"))
    assert answer.json["outcome"] == "credited"
    credited_and_settled(db_app, purchase_id, user_id, "refunded", 0)


def test_a_partial_refund_and_a_dispute_before_the_credit(db_app, stripe_fake):
    (purchase_id, user_id), session = lost_webhook_then_refund(
        db_app, stripe_fake, refund=1000, dispute=True
    )
    deliver(db_app.test_client(), event_for(session, "checkout.session.completed"))
    credited_and_settled(db_app, purchase_id, user_id, "disputed", 0)


def test_the_return_page_settles_the_early_refund(db_app, stripe_fake):
    (purchase_id, user_id), _ = lost_webhook_then_refund(db_app, stripe_fake, refund=4250)
    with db_app.app_context():
        public_id = db.session.get(Purchase, purchase_id).public_id
    browser = db_app.test_client()
    Auth(browser).login()
    page = browser.get(f"/credits/purchase/{public_id}/status", headers={"HX-Request": "true"})
    assert page.status_code == 200
    credited_and_settled(db_app, purchase_id, user_id, "partially_refunded", 500)


def test_reconciliation_settles_the_early_refund(db_app, stripe_fake):
    (purchase_id, user_id), session = lost_webhook_then_refund(db_app, stripe_fake)
    with db_app.app_context():
        assert fulfil_checkout(session, source="reconcile") == "credited"
    credited_and_settled(db_app, purchase_id, user_id, "refunded", 0)
