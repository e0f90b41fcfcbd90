"""The ledger: double entry, idempotency, the append-only guard and verify()."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from app import ledger
from app.db import write_transaction
from app.errors import InsufficientCredits, LedgerConflict, ValidationFailed
from app.extensions import db
from app.ledger import ADJUSTMENTS_ACCOUNT, SPEND_ACCOUNT, Posting, user_account
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.helpers.apps import dispose, make_app
from tests.helpers.builders import make_user
from tests.helpers.databases import database_url


def grant(user_id: int, amount: int, key: str, kind: str = "adjustment"):
    with write_transaction():
        return ledger.post(
            key,
            kind,
            [Posting(user_account(user_id), amount), Posting(ADJUSTMENTS_ACCOUNT, -amount)],
        ).transaction


def test_posting_moves_balance_and_sums_to_zero(ctx):
    user = make_user()
    txn = grant(user.id, 250, "k1")
    assert ledger.balance(user.id) == 250
    assert sorted(e.amount for e in txn.entries) == [-250, 250]
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
    assert ledger.verify() == []


def test_same_key_same_entries_returns_the_original(ctx):
    user = make_user()
    first = grant(user.id, 100, "same")
    again = grant(user.id, 100, "same")
    assert again.id == first.id
    assert ledger.balance(user.id) == 100
    assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 1


def test_same_key_other_entries_is_a_conflict_and_writes_nothing(ctx):
    user = make_user()
    grant(user.id, 100, "dup")
    with pytest.raises(LedgerConflict):
        grant(user.id, 101, "dup")
    assert ledger.balance(user.id) == 100
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == 2


@pytest.mark.parametrize(
    "postings",
    [
        [Posting("user:1", 5), Posting(ADJUSTMENTS_ACCOUNT, -4)],
        [Posting("user:1", 5)],
        [Posting("user:1", 0), Posting(ADJUSTMENTS_ACCOUNT, 0)],
        [Posting("user:1", 1.5), Posting(ADJUSTMENTS_ACCOUNT, -1.5)],
    ],
)
def test_malformed_transactions_are_refused(ctx, postings):
    make_user()
    with pytest.raises(ValidationFailed), write_transaction():
        ledger.post("bad", "adjustment", postings)
    assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 0


def test_spend_needs_funds_but_take_back_may_overdraw(ctx):
    user = make_user()
    grant(user.id, 10, "g")
    with pytest.raises(InsufficientCredits), write_transaction():
        ledger.post("s", "spend", [Posting(user_account(user.id), -11), Posting(SPEND_ACCOUNT, 11)])
    assert ledger.balance(user.id) == 10
    assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 1
    with write_transaction():
        ledger.post(
            "tb",
            "take_back",
            [Posting(user_account(user.id), -30), Posting(ADJUSTMENTS_ACCOUNT, 30)],
        )
    assert ledger.balance(user.id) == -20
    assert ledger.verify() == []


def test_accounts_are_created_on_first_credit_but_never_by_a_debit_that_needs_funds(ctx):
    with pytest.raises(InsufficientCredits), write_transaction():
        ledger.post("s", "spend", [Posting("user:999", -1), Posting(SPEND_ACCOUNT, 1)])
    codes = set(db.session.scalars(select(LedgerAccount.code)))
    assert "user:999" not in codes and SPEND_ACCOUNT not in codes
    with write_transaction():
        posted = ledger.post(
            "a", "adjustment", [Posting("system:new", -5), Posting(ADJUSTMENTS_ACCOUNT, 5)]
        )
    assert posted.created and posted.balances == {"system:new": -5, ADJUSTMENTS_ACCOUNT: 5}
    assert posted.transaction.idempotency_key == "a"
    assert ledger.verify() == []


def test_a_write_transaction_that_fails_midway_leaves_nothing_behind(db_app: Flask):
    # PostgreSQL reads in autocommit; a write must still be all or nothing.
    with db_app.app_context():
        user = make_user()
        grant(user.id, 10, "g")
        with pytest.raises(InsufficientCredits), write_transaction():
            ledger.post(
                "t", "adjustment", [Posting(user_account(user.id), 5), Posting("system:x", -5)]
            )
            ledger.post(
                "s", "spend", [Posting(user_account(user.id), -99), Posting(SPEND_ACCOUNT, 99)]
            )
        assert ledger.balance(user.id) == 10
        keys = set(db.session.scalars(select(LedgerTransaction.idempotency_key)))
        assert keys == {"g"}
        assert "system:x" not in set(db.session.scalars(select(LedgerAccount.code)))
        assert ledger.verify() == []


def test_postgresql_reads_send_no_begin_and_writes_run_in_a_transaction(tmp_path):
    from psycopg.pq import TransactionStatus

    app = make_app(database_url("postgresql", tmp_path), tmp_path)
    try:
        with app.app_context():

            def server_side_status() -> TransactionStatus:
                connection = db.session.connection().connection.driver_connection
                return connection.info.transaction_status

            db.session.execute(select(LedgerAccount.id)).all()
            assert server_side_status() == TransactionStatus.IDLE  # no BEGIN was sent
            with write_transaction():
                db.session.execute(select(LedgerAccount.id).with_for_update()).all()
                assert server_side_status() == TransactionStatus.INTRANS
    finally:
        dispose(app)


def test_adjust_is_audited_and_may_go_negative(ctx):
    from app.models import AuditLog

    user = make_user()
    ledger.adjust(user, -40, "correction", actor="cli")
    assert ledger.balance(user.id) == -40
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "credits.adjusted"))
    assert log.note == "correction" and log.after["balance"] == -40
    with pytest.raises(ValidationFailed):
        ledger.adjust(user, 5, "  ", actor="cli")


def test_entries_are_append_only_in_the_database(db_app: Flask):
    with db_app.app_context():
        user = make_user()
        grant(user.id, 7, "k")
        for statement in (
            "UPDATE ledger_entries SET amount = amount + 1",
            "DELETE FROM ledger_entries",
            "UPDATE ledger_transactions SET kind = 'spend'",
            "DELETE FROM ledger_transactions",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.scalar(select(func.count(LedgerEntry.id))) == 2
        assert ledger.verify() == []


@pytest.mark.broken_ledger
def test_verify_reports_each_planted_violation(ctx):
    user = make_user()
    grant(user.id, 50, "k")
    db.session.execute(
        update(LedgerAccount).where(LedgerAccount.code == user_account(user.id)).values(balance=999)
    )
    txn_id = db.session.scalar(select(LedgerTransaction.id))
    account_id = db.session.scalar(
        select(LedgerAccount.id).where(LedgerAccount.code == ADJUSTMENTS_ACCOUNT)
    )
    db.session.add(
        LedgerEntry(transaction_id=txn_id, account_id=account_id, amount=3, balance_after=-47)
    )
    db.session.commit()
    problems = ledger.verify()
    text_ = "\n".join(problems)
    assert f"account {user_account(user.id)}: cached balance 999 != sum of entries 50" in text_
    assert "entries over all accounts sum to 3" in text_
    assert "transaction k: entries sum to 3" in text_


@pytest.mark.broken_ledger
def test_verify_catches_double_grant_and_excess_take_back(ctx):
    from app.domain.packs import get_active_package
    from app.models import Purchase

    user = make_user()
    pack = get_active_package("starter")
    purchase = Purchase(
        user_id=user.id,
        package_id=pack.id,
        package_code=pack.code,
        package_name=pack.name,
        credits=100,
        amount_cents=1000,
        currency="usd",
    )
    db.session.add(purchase)
    db.session.commit()
    with write_transaction():
        for key in ("g1", "g2"):
            ledger.post(
                key,
                "grant",
                [Posting(user_account(user.id), 100), Posting(ledger.SALES_ACCOUNT, -100)],
                purchase_id=purchase.id,
            )
        ledger.post(
            "t1",
            "take_back",
            [Posting(user_account(user.id), -250), Posting(ledger.SALES_ACCOUNT, 250)],
            purchase_id=purchase.id,
        )
    problems = ledger.verify()
    assert f"purchase {purchase.id}: granted 2 times" in problems
    assert f"purchase {purchase.id}: 250 credits taken back, more than 200 granted" in problems


def test_sixteen_threads_one_key_one_transaction(db_app: Flask):
    with db_app.app_context():
        user_id = make_user().id
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    ids: list[int] = []

    def worker() -> None:
        try:
            with db_app.app_context():
                barrier.wait()
                txn = grant(user_id, 500, "race-key")
                ids.append(txn.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1
    with db_app.app_context():
        assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 1
        assert ledger.balance(user_id) == 500
        assert ledger.verify() == []


def test_sixteen_threads_distinct_keys_all_land(db_app: Flask):
    with db_app.app_context():
        user_id = make_user().id
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with db_app.app_context():
                barrier.wait()
                grant(user_id, n + 1, f"key-{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db_app.app_context():
        assert ledger.balance(user_id) == sum(range(1, 17))
        assert ledger.verify() == []


def _starter_purchase(user) -> int:
    from app.domain.packs import get_active_package
    from app.models import Purchase

    pack = get_active_package("starter")
    purchase = Purchase.of_package(user.id, pack)
    db.session.add(purchase)
    db.session.commit()
    return purchase.id


@pytest.mark.broken_ledger
@pytest.mark.parametrize(("taken", "restored"), [(100, 0), (101, 0), (101, 1), (60, 61)])
def test_verify_holds_take_backs_to_exactly_what_was_granted(ctx, taken, restored):
    user = make_user()
    purchase_id = _starter_purchase(user)
    account, sales = user_account(user.id), ledger.sales_account(purchase_id)
    with write_transaction():
        ledger.post(
            "g", "grant", [Posting(account, 100), Posting(sales, -100)], purchase_id=purchase_id
        )
        ledger.post(
            "t",
            "take_back",
            [Posting(account, -taken), Posting(sales, taken)],
            purchase_id=purchase_id,
        )
        if restored:
            ledger.post(
                "r",
                "restore",
                [Posting(account, restored), Posting(sales, -restored)],
                purchase_id=purchase_id,
            )
    problems = ledger.verify()
    net = taken - restored
    if net > 100:
        assert problems == [
            f"purchase {purchase_id}: {net} credits taken back, more than 100 granted"
        ]
    elif net < 0:
        assert problems == [f"purchase {purchase_id}: {-net} credits restored beyond take-backs"]
    else:
        assert problems == []


def test_was_granted_counts_only_this_purchases_grant(ctx):
    from app.ledger import sales_account
    from tests.helpers.builders import make_purchase

    user = make_user()
    granted, adjusted, untouched = (
        make_purchase(user, code) for code in ("starter", "pro", "enterprise")
    )
    with write_transaction():
        ledger.post(
            f"purchase:{granted.public_id}:grant",
            "grant",
            [Posting(user_account(user.id), 10), Posting(sales_account(granted.id), -10)],
            purchase_id=granted.id,
        )
        ledger.post(
            f"purchase:{adjusted.public_id}:adjust",
            "adjustment",
            [Posting(user_account(user.id), 5), Posting(ADJUSTMENTS_ACCOUNT, -5)],
            purchase_id=adjusted.id,
        )
    assert ledger.was_granted(granted.id) is True
    assert ledger.was_granted(adjusted.id) is False, "another kind of transaction is no grant"
    assert ledger.was_granted(untouched.id) is False, "another purchase's grant is not this one's"


def test_purchase_movements_are_this_purchases_buyer_entries_only(ctx):
    from app.ledger import sales_account
    from tests.helpers.builders import make_purchase

    user = make_user()
    first, second = (make_purchase(user, code) for code in ("starter", "pro"))
    with write_transaction():
        for purchase, credits in ((first, 10), (second, 20)):
            ledger.post(
                f"purchase:{purchase.public_id}:grant",
                "grant",
                [
                    Posting(user_account(user.id), credits),
                    Posting(sales_account(purchase.id), -credits),
                ],
                purchase_id=purchase.id,
            )
    moves = ledger.purchase_movements(second.id)
    assert [(txn.purchase_id, amount, after) for txn, amount, after in moves] == [
        (second.id, 20, 30)
    ]
