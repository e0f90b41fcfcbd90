"""Reads of what the ledger holds: balances, a user's movements, a purchase's credit history."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from app.db import Page, paginate
from app.extensions import db
from app.ledger.accounts import TAKE_BACK_KINDS, user_account
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction, Purchase


def balance(user_id: int) -> int:
    """Return a user's balance in credits (negative when they owe credits)."""
    value = db.session.scalar(
        select(LedgerAccount.balance).where(LedgerAccount.code == user_account(user_id))
    )
    return int(value or 0)


def balance_after(transaction_id: int, user_id: int) -> int:
    """Return a user's balance right after one of the ledger transactions on their account."""
    value = db.session.scalar(
        select(LedgerEntry.balance_after)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerEntry.transaction_id == transaction_id,
            LedgerAccount.code == user_account(user_id),
        )
    )
    return int(value)


_PURCHASE_WITH_BALANCE = (
    select(Purchase, LedgerAccount.balance)
    .outerjoin(LedgerAccount, LedgerAccount.user_id == Purchase.user_id)
    .where(Purchase.public_id == bindparam("public_id"))
)


def purchase_with_balance(public_id: str) -> tuple[Purchase, int | None] | None:
    """Read a purchase by its public id with its buyer's balance, in one statement (the
    balance is None while the buyer has no ledger account)."""
    row = db.session.execute(_PURCHASE_WITH_BALANCE, {"public_id": public_id}).first()
    return None if row is None else (row[0], row[1])


def movements(user_id: int, limit: int, cursor: str | None) -> Page:
    """Return one page of a user's ledger entries, newest first, with their transactions."""
    query = (
        select(LedgerEntry)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == user_account(user_id))
        .options(joinedload(LedgerEntry.transaction))
    )
    return paginate(query, LedgerEntry.id, limit, cursor)


def purchase_movements(purchase_id: int) -> list[tuple[LedgerTransaction, int, int]]:
    """Return each ledger transaction of a purchase with its amount and the balance after it
    on the buyer's account."""
    query = (
        select(LedgerTransaction, LedgerEntry.amount, LedgerEntry.balance_after)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.purchase_id == purchase_id, LedgerAccount.user_id.is_not(None))
    )
    return [(txn, amount, after) for txn, amount, after in db.session.execute(query)]


def was_granted(purchase_id: int) -> bool:
    """Tell whether a purchase's credits were granted."""
    count = db.session.scalar(
        select(func.count(LedgerTransaction.id)).where(
            LedgerTransaction.purchase_id == purchase_id, LedgerTransaction.kind == "grant"
        )
    )
    return bool(count)


def taken_back(purchase_id: int) -> int:
    """Return the credits taken back from a purchase so far (net of restorations)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.purchase_id == purchase_id,
            LedgerTransaction.kind.in_(TAKE_BACK_KINDS),
            LedgerAccount.user_id.is_not(None),
        )
    )
    return -int(total)


def take_back_count(purchase_id: int) -> int:
    """Return how many take-backs and restorations a purchase has had (each is keyed by its
    sequence number)."""
    count = db.session.scalar(
        select(func.count(LedgerTransaction.id)).where(
            LedgerTransaction.purchase_id == purchase_id,
            LedgerTransaction.kind.in_(TAKE_BACK_KINDS),
        )
    )
    return int(count)
