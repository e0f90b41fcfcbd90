"""A paid session credits only when it matches our row exactly: amount, purchase, customer."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from app import ledger
from app.extensions import db
from app.models import AuditLog, Purchase
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object


@pytest.fixture
def purchase(ctx):
    user = make_user()
    user.stripe_customer_id = "cus_buyer"
    db.session.commit()
    return make_purchase(user)


def completed(client, purchase: Purchase, **overrides) -> str:
    event = event_for(session_object(purchase, **overrides), "checkout.session.completed")
    response = deliver(client, event)
    assert response.status_code == 200, response.json
    return response.json["outcome"]


def held_for_review(purchase: Purchase, reason: str) -> None:
    db.session.expire_all()
    row = db.session.get(Purchase, purchase.id)
    assert row.status == "needs_review"
    assert reason in row.review_reason
    assert ledger.balance(row.user_id) == 0
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "purchase.mismatch"))


@pytest.mark.parametrize(
    ("amount_total", "reason"),
    [
        (8501, "amount 8501 != 8500"),
        (17000, "amount 17000 != 8500"),
        (8499, "amount 8499 != 8500"),
        (0, "amount 0 != 8500"),
        (None, "amount None != 8500"),
        ("8500", "amount 8500 != 8500"),
    ],
)
def test_any_amount_but_the_exact_one_is_held(client, purchase, amount_total, reason):
    assert completed(client, purchase, amount_total=amount_total) == "mismatch"
    held_for_review(purchase, reason)


@pytest.mark.parametrize("reference", ["pur_someone_else", None, ""])
def test_a_session_naming_another_purchase_or_none_is_held(client, purchase, reference):
    assert completed(client, purchase, client_reference_id=reference) == "mismatch"
    held_for_review(purchase, f"client_reference_id {reference!r}")


def test_a_session_naming_a_real_other_purchase_credits_neither(client, purchase):
    other = make_purchase(make_user("other@example.com"))
    assert completed(client, purchase, client_reference_id=other.public_id) == "mismatch"
    held_for_review(purchase, f"client_reference_id {other.public_id!r}")
    db.session.expire_all()
    assert db.session.get(Purchase, other.id).status == "pending"
    assert ledger.balance(other.user_id) == 0


@pytest.mark.parametrize("customer", ["cus_stranger", {"id": "cus_stranger", "object": "customer"}])
def test_another_customer_is_held(client, purchase, customer):
    assert completed(client, purchase, customer=customer) == "mismatch"
    held_for_review(purchase, "customer cus_stranger is not the buyer's")


@pytest.mark.parametrize("customer", ["cus_buyer", {"id": "cus_buyer", "object": "customer"}])
def test_the_buyers_own_customer_credits(client, purchase, customer):
    assert completed(client, purchase, customer=customer) == "credited"
    assert ledger.balance(purchase.user_id) == 1000


def test_a_mismatch_is_logged_and_audited_with_both_ids_and_the_problem(client, purchase, caplog):
    caplog.set_level(logging.ERROR, logger="app.payments.fulfilment")
    session = session_object(purchase, amount_total=8501)
    assert deliver(client, event_for(session, "checkout.session.completed")).json["outcome"] == (
        "mismatch"
    )
    problem = "amount 8501 != 8500"
    prefix = f"Checkout Session {session['id']} disagrees with {purchase.public_id}: "
    logged = [r for r in caplog.records if r.getMessage().startswith(prefix)]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert problem in logged[0].getMessage()

    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.subject_id == purchase.public_id).order_by(AuditLog.id)
    ).all()
    mismatch = [r for r in rows if r.action == "purchase.mismatch"]
    assert [(r.actor, r.subject_type, r.subject_id) for r in mismatch] == [
        ("stripe", "purchase", purchase.public_id)
    ]
    assert problem in mismatch[0].note
    changed = [r for r in rows if r.action == "purchase.status_changed"]
    assert [(r.actor, r.before, r.after, r.note) for r in changed] == [
        ("stripe", {"status": "pending"}, {"status": "needs_review"}, "payment does not match")
    ]
