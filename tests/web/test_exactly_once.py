"""Exactly once under concurrency: 16 deliveries, the return page racing, events in either order."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import ledger
from app.extensions import db
from app.models import LedgerTransaction, Purchase, StripeEvent
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.concurrency import run_together
from tests.helpers.logins import Auth
from tests.helpers.stripe_events import deliver, event_for, session_object


def grants(purchase_id: int) -> int:
    return db.session.scalar(
        select(func.count(LedgerTransaction.id)).where(
            LedgerTransaction.purchase_id == purchase_id, LedgerTransaction.kind == "grant"
        )
    )


def test_one_event_delivered_16_times_at_once_plus_the_return_page(db_app: Flask, stripe_fake):
    with db_app.app_context():
        user = make_user()
        purchase = make_purchase(user)
        session = session_object(purchase)
        stripe_fake.objects[session["id"]] = session
        event = event_for(session, "checkout.session.completed")
        status_url = f"/credits/purchase/{purchase.public_id}/status"
        purchase_id, user_id = purchase.id, user.id

    browser = db_app.test_client()
    Auth(browser).login()

    def webhook():
        response = deliver(db_app.test_client(), event)
        return response.status_code, response.json["outcome"]

    def return_page():
        return browser.get(status_url, headers={"HX-Request": "true"}).status_code

    results = run_together([webhook] * 16 + [return_page])
    answers, page = results[:16], results[16]
    assert page == 200
    assert {status for status, _ in answers} == {200}, answers
    outcomes = sorted(outcome for _, outcome in answers)
    # Exactly one delivery records the event: it credits, or finds the purchase credited by
    # the return page that won the race. Every other one is told it was a redelivery.
    recorded = outcomes.count("credited") + outcomes.count("already_credited")
    assert recorded == 1 and outcomes.count("duplicate") == 15, outcomes
    with db_app.app_context():
        assert grants(purchase_id) == 1
        assert ledger.balance(user_id) == 1000
        assert db.session.get(Purchase, purchase_id).status == "completed"
        assert db.session.scalar(select(func.count(StripeEvent.id))) == 1
        assert ledger.verify() == []


@pytest.mark.parametrize("order", ["completed_first", "succeeded_first"])
def test_completed_and_async_succeeded_in_either_order_credit_once(db_app: Flask, order):
    with db_app.app_context():
        purchase = make_purchase(make_user())
        completed = event_for(session_object(purchase), "checkout.session.completed")
        succeeded = event_for(session_object(purchase), "checkout.session.async_payment_succeeded")
        purchase_id, user_id = purchase.id, purchase.user_id
    events = [completed, succeeded] if order == "completed_first" else [succeeded, completed]
    client = db_app.test_client()
    outcomes = [deliver(client, e).json["outcome"] for e in events]
    assert outcomes == ["credited", "already_credited"]
    results = run_together(
        [lambda e=e: deliver(db_app.test_client(), e).status_code for e in events * 4]
    )
    assert set(results) == {200}
    with db_app.app_context():
        assert grants(purchase_id) == 1
        assert ledger.balance(user_id) == 1000
        assert ledger.verify() == []


def test_both_events_racing_each_other_credit_once(db_app: Flask):
    with db_app.app_context():
        purchase = make_purchase(make_user())
        events = [
            event_for(session_object(purchase), "checkout.session.completed"),
            event_for(session_object(purchase), "checkout.session.async_payment_succeeded"),
        ]
        purchase_id, user_id = purchase.id, purchase.user_id
    jobs = [lambda e=e: deliver(db_app.test_client(), e).json["outcome"] for e in events * 8]
    outcomes = run_together(jobs)
    assert outcomes.count("credited") == 1
    assert set(outcomes) <= {"credited", "already_credited", "duplicate"}
    with db_app.app_context():
        assert grants(purchase_id) == 1
        assert ledger.balance(user_id) == 1000
        assert ledger.verify() == []


def test_concurrent_starts_of_one_pack_make_one_purchase(db_app: Flask, stripe_fake, monkeypatch):
    import functools

    from app.domain import users
    from app.payments import checkout_sessions

    # The requests that lose the race wait for the winner to record its Checkout Session; the
    # app waits a few seconds, which a loaded machine can outlast, so the test allows minutes.
    wait = functools.partial(checkout_sessions._wait_for_session, seconds=300)
    monkeypatch.setattr(checkout_sessions, "_wait_for_session", wait)
    from tests.helpers.builders import sync_packs

    with db_app.app_context():
        sync_packs()
        token = users.issue_token(make_user())
    headers = {"Authorization": f"Bearer {token}"}

    def start():
        response = db_app.test_client().post(
            "/api/v1/billing/credits/purchase", json={"package_code": "pro"}, headers=headers
        )
        return response.status_code, response.get_json().get("purchase_id")

    results = run_together([start] * 8)
    assert sorted(code for code, _ in results) == [200] * 7 + [201]
    assert len({purchase_id for _, purchase_id in results}) == 1
    with db_app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 1
    assert len(stripe_fake.calls_to("POST", r"/v1/checkout/sessions$")) == 1
