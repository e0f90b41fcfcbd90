"""Reconcile end to end against the sandbox: each kind of drift planted, found and repaired."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app import ledger
from app.db import write_transaction
from app.domain import users
from app.extensions import db
from app.models import LedgerTransaction, Purchase
from app.payments.client import stripe_client
from app.payments.fulfilment import credit_purchase
from tests.helpers.builders import make_user

API = "/api/v1/billing/credits"


def start(app, email: str, code: str) -> tuple[dict, int]:
    """Log a new user in by token and start a purchase of a pack."""
    with app.app_context():
        user = make_user(email)
        user_id = user.id
        headers = {"Authorization": f"Bearer {users.issue_token(user)}"}
    response = app.test_client().post(
        f"{API}/purchase", json={"package_code": code}, headers=headers
    )
    assert response.status_code == 201
    return response.get_json(), user_id


def balance(app, user_id: int) -> int:
    with app.app_context():
        return ledger.balance(user_id)


def statuses(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(Purchase.public_id, Purchase.status)).all())


def test_every_kind_of_drift_is_found_and_the_repairable_repaired(sandbox_app, sandbox):
    runner = sandbox_app.test_cli_runner()
    refunded, refunded_user = start(sandbox_app, "refunded@example.com", "basic")
    disputed, disputed_user = start(sandbox_app, "disputed@example.com", "starter")
    paid, paid_user = start(sandbox_app, "paid@example.com", "pro")
    unpaid, unpaid_user = start(sandbox_app, "unpaid@example.com", "premium")
    stale, _ = start(sandbox_app, "stale@example.com", "enterprise")
    _, refunded_session = sandbox.pay(refunded["session_id"])
    _, disputed_session = sandbox.pay(disputed["session_id"])
    sandbox.flush()
    assert balance(sandbox_app, refunded_user) == 500 and balance(sandbox_app, disputed_user) == 100

    # From here on no webhook is delivered: every event below is "lost".
    sandbox.pay(paid["session_id"])
    with sandbox_app.app_context():
        client = stripe_client()
        client.v1.refunds.create(
            {"payment_intent": refunded_session["payment_intent"], "amount": 2250}
        )
        charge = client.v1.payment_intents.retrieve(
            disputed_session["payment_intent"]
        ).latest_charge
        purchase = db.session.scalar(
            select(Purchase).where(Purchase.public_id == unpaid["purchase_id"])
        )
        with write_transaction():
            credit_purchase(purchase, "a-bug")  # credited although nobody paid
    sandbox.helper(f"charges/{charge}/dispute")
    sandbox.advance(61 * 60)  # open sessions pass their expiry

    report = runner.invoke(args=["credits", "reconcile"])
    assert report.exit_code == 1, report.output
    for kind in ("paid_not_credited", "not_taken_back", "credited_not_paid", "pending_past_expiry"):
        assert kind in report.output, report.output
    assert balance(sandbox_app, paid_user) == 0  # a report changes nothing

    applied = runner.invoke(args=["credits", "reconcile", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert balance(sandbox_app, paid_user) == 1000
    assert balance(sandbox_app, refunded_user) == 250
    assert balance(sandbox_app, disputed_user) == 0
    assert balance(sandbox_app, unpaid_user) == 2500  # never debited automatically
    after = statuses(sandbox_app)
    assert after[unpaid["purchase_id"]] == "needs_review"
    assert after[stale["purchase_id"]] == "expired"
    assert after[paid["purchase_id"]] == "completed"

    again = runner.invoke(args=["credits", "reconcile"])
    assert again.exit_code == 0, again.output
    assert "needs_review" in again.output

    sandbox.flush()  # the lost webhooks arrive at last: nothing moves twice
    assert balance(sandbox_app, paid_user) == 1000
    assert balance(sandbox_app, refunded_user) == 250
    assert balance(sandbox_app, disputed_user) == 0
    with sandbox_app.app_context():
        assert ledger.verify() == []


def test_a_run_concurrent_with_delivery_credits_once(sandbox_app, sandbox):
    bodies = [start(sandbox_app, f"u{n}@example.com", "pro") for n in range(4)]
    for body, _ in bodies:
        sandbox.pay(body["session_id"])
    runner = sandbox_app.test_cli_runner()
    results: list = []

    def reconcile_now() -> None:
        result = runner.invoke(args=["credits", "reconcile", "--apply"])
        results.append((result.exit_code, result.output, result.exception))

    threads = [threading.Thread(target=reconcile_now), threading.Thread(target=sandbox.flush)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sandbox.flush()
    assert results[0][0] == 0, results[0]
    with sandbox_app.app_context():
        grants = db.session.scalar(
            select(func.count(LedgerTransaction.id)).where(LedgerTransaction.kind == "grant")
        )
        assert grants == 4
        assert all(ledger.balance(user_id) == 1000 for _, user_id in bodies)
        assert ledger.verify() == []
    assert runner.invoke(args=["credits", "reconcile"]).exit_code == 0
