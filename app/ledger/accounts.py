"""Ledger accounts: their codes, the kinds of ledger transaction, and opening an account."""

from __future__ import annotations

from sqlalchemy import select

from app.db import dialect_insert
from app.extensions import db
from app.models import LedgerAccount

SALES_ACCOUNT = "system:stripe_sales"
SALES_SHARDS = 8
ADJUSTMENTS_ACCOUNT = "system:adjustments"
SPEND_ACCOUNT = "system:spend"

KINDS = frozenset({"grant", "take_back", "restore", "adjustment", "spend"})
# Kinds that may push a user's balance below zero; every other kind needs funds.
OVERDRAFT_KINDS = frozenset({"take_back", "adjustment"})
# Kinds that move a purchase's credits back (take-backs) or forth again (restorations).
TAKE_BACK_KINDS = ("take_back", "restore")


def sales_account(purchase_id: int) -> str:
    """The sales account a purchase's grant and take-backs post against (one of a few shards,
    so concurrent fulfilments do not all wait for one row lock)."""
    return f"{SALES_ACCOUNT}:{purchase_id % SALES_SHARDS}"


def user_account(user_id: int) -> str:
    """Return the ledger account code of a user."""
    return f"user:{user_id}"


def account_owner(code: str) -> int | None:
    """Return the user id a user account code names, or None for a system account."""
    return int(code.split(":", 1)[1]) if code.startswith("user:") else None


def ensure_account(code: str, user_id: int | None = None) -> int:
    """Return the id of the account with this code, creating it if needed."""
    account_id = db.session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code))
    if account_id is not None:
        return account_id
    db.session.execute(
        dialect_insert(LedgerAccount)
        .values(code=code, user_id=user_id, balance=0)
        .on_conflict_do_nothing(index_elements=["code"])
    )
    return db.session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code))
