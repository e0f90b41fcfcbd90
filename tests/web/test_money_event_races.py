"""Refund and dispute events: Stripe is read with no transaction open, and events for one
purchase arriving at once take back exactly what Stripe's numbers say, on both engines."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import ledger
from app.extensions import db
from app.models import Purchase
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.concurrency import run_together
from tests.helpers.stripe_events import deliver, event_for, session_object


def paid_purchase(app: Flask, fake) -> tuple[int, int, str]:
    """Write a purchase of Pro (1,000 credits, $85.00) paid through the webhook."""
    with app.app_context():
        user = make_user()
        purchase = make_purchase(user)
        intent = fake.add_charge(purchase.amount_cents)
        session = session_object(purchase, payment_intent=intent)
        answer = deliver(app.test_client(), event_for(session, "checkout.session.completed"))
        assert answer.json["outcome"] == "credited"
        return purchase.id, user.id, intent


def take_write_lock(app: Flask, purchase_id: int) -> None:
    """From another connection, take the locks a settlement takes, without waiting."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        other = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once while a writer holds the lock
            other.execute("ROLLBACK")
        finally:
            other.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as other:
        other.execute("SELECT id FROM purchases WHERE id = %s FOR UPDATE NOWAIT", (purchase_id,))
        other.rollback()


def test_stripe_is_read_for_money_events_with_no_transaction_open(db_app: Flask, stripe_fake):
    purchase_id, _, intent = paid_purchase(db_app, stripe_fake)
    checked: list[str] = []

    def while_stripe_answers(method: str, path: str) -> None:
        assert not db.session.info.get("writing"), f"{path} read inside a write transaction"
        take_write_lock(db_app, purchase_id)
        checked.append(path)

    stripe_fake.on_call = while_stripe_answers
    stripe_fake.refund(intent, 1000)
    charge = stripe_fake.charge_for(intent)
    dispute = stripe_fake.dispute(intent)
    client = db_app.test_client()
    assert deliver(client, event_for(dict(charge), "charge.refunded")).status_code == 200
    assert deliver(client, event_for(dispute, "charge.dispute.created")).status_code == 200
    assert any("/charges/" in path for path in checked)
    assert any("/disputes/" in path for path in checked)


def test_a_partial_refund_and_a_dispute_at_once_take_back_exactly_the_pack(
    db_app: Flask, stripe_fake
):
    purchase_id, user_id, intent = paid_purchase(db_app, stripe_fake)
    stripe_fake.refund(intent, 1000)
    charge = dict(stripe_fake.charge_for(intent))
    dispute = stripe_fake.dispute(intent)
    # Both deliveries read Stripe first, then enter their transactions together.
    both_read = threading.Barrier(2, timeout=120)
    reads: set[int] = set()

    def hold_charge_reads(method: str, path: str) -> None:
        if "/charges/" in path and threading.get_ident() not in reads:
            reads.add(threading.get_ident())
            both_read.wait()

    stripe_fake.on_call = hold_charge_reads
    events = [event_for(charge, "charge.refunded"), event_for(dispute, "charge.dispute.created")]
    answers = run_together([lambda e=e: deliver(db_app.test_client(), e) for e in events])
    assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
    with db_app.app_context():
        purchase = db.session.get(Purchase, purchase_id)
        assert purchase.status == "disputed"
        assert ledger.taken_back(purchase_id) == purchase.credits == 1000
        assert ledger.balance(user_id) == 0
        assert ledger.verify() == []


def locks_waited_on(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]


def wait_for_lock_waiters(dsn: str, count: int) -> None:
    """Return once count sessions wait for a lock (a bound on polls, each under 0.05 s)."""
    pause = threading.Event()
    for _ in range(2400):
        if locks_waited_on(dsn) >= count:
            return
        pause.wait(0.05)
    pytest.fail(f"{count} deliveries never waited for a lock")


def test_on_postgresql_a_refund_read_during_a_dispute_waits_for_it(tmp_path, stripe_fake):
    """Hold the buyer's ledger account from outside: the dispute's settlement holds the
    purchase row and waits for the account; the refund's settlement, started meanwhile, must
    wait for the row and then see the dispute. Reading the row without its lock, it would
    settle on the stale row: restore the dispute's credits and call the purchase refunded."""
    from app.domain.packs import seed_packages
    from tests.helpers.apps import dispose, make_app
    from tests.helpers.databases import database_url

    app = make_app(database_url("postgresql", tmp_path), tmp_path)
    try:
        with app.app_context():
            seed_packages()
        purchase_id, user_id, intent = paid_purchase(app, stripe_fake)
        stripe_fake.refund(intent, 1000)
        charge = dict(stripe_fake.charge_for(intent))
        dispute = stripe_fake.dispute(intent)
        events = [
            event_for(dispute, "charge.dispute.created"),
            event_for(charge, "charge.refunded"),
        ]
        dsn = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
        dsn = dsn.render_as_string(hide_password=False)
        answers: list = [None, None]

        def send(i: int) -> None:
            answers[i] = deliver(app.test_client(), events[i])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        with psycopg.connect(dsn) as holder:
            holder.execute(
                "SELECT id FROM ledger_accounts WHERE code = %s FOR UPDATE", (f"user:{user_id}",)
            )
            for waiting, thread in enumerate(threads, start=1):
                thread.start()
                wait_for_lock_waiters(dsn, waiting)
            holder.rollback()
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
        assert [a.json["outcome"] for a in answers] == ["taken_back:1000", "no_change"]
        with app.app_context():
            assert db.session.get(Purchase, purchase_id).status == "disputed"
            assert ledger.taken_back(purchase_id) == 1000
            assert ledger.balance(user_id) == 0
            assert ledger.verify() == []
    finally:
        dispose(app)


def test_a_money_state_read_before_a_newer_one_was_applied_is_read_again(
    db_app: Flask, stripe_fake
):
    """A dispute event reads the charge (1,000 cents refunded) and is held while a second
    refund (4,000 in all) lands and is applied. Applied as read, the held state would give
    back 353 credits and tell the buyer a refund failed; it is read again and changes nothing."""
    from app.models import LedgerTransaction, OutboxMessage

    purchase_id, user_id, intent = paid_purchase(db_app, stripe_fake)
    stripe_fake.refund(intent, 1000)
    dispute = stripe_fake.dispute(intent, status="won")
    held, release = threading.Event(), threading.Event()

    def hold_the_first_dispute_read(method: str, path: str) -> None:
        if "/disputes/" in path and not held.is_set():
            held.set()
            assert release.wait(300), "the held delivery was never released"

    stripe_fake.on_call = hold_the_first_dispute_read
    answers: list = []
    first = threading.Thread(
        target=lambda: answers.append(
            deliver(db_app.test_client(), event_for(dispute, "charge.dispute.closed"))
        )
    )
    first.start()
    assert held.wait(300), "the dispute event never read Stripe"
    stripe_fake.refund(intent, 3000)
    later = deliver(
        db_app.test_client(), event_for(dict(stripe_fake.charge_for(intent)), "charge.refunded")
    )
    assert later.json["outcome"] == "taken_back:471"
    release.set()
    first.join()
    assert answers[0].status_code == 200 and answers[0].json["outcome"] == "no_change"
    with db_app.app_context():
        purchase = db.session.get(Purchase, purchase_id)
        assert purchase.status == "partially_refunded" and purchase.dispute_status == "won"
        assert ledger.taken_back(purchase_id) == 471 and ledger.balance(user_id) == 529
        kinds = db.session.scalars(
            select(LedgerTransaction.kind).where(LedgerTransaction.purchase_id == purchase_id)
        ).all()
        assert "restore" not in kinds
        notices = db.session.scalars(select(OutboxMessage.body)).all()
        assert not any("given back" in body or "did not go through" in body for body in notices)
        assert ledger.verify() == []
