"""Ledger accounts: their codes, the kinds of ledger transaction, and opening an account."""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import select

from app.db import dialect_insert
from app.errors import ValidationFailed
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
# The most credits one request may move (MAX_CREDITS_PER_REQUEST may lower it).
MAX_CREDITS = 10**9


def credit_limit() -> int:
    """Return the most credits one request may move, from the app's config."""
    if not has_app_context():
        return MAX_CREDITS
    return min(int(current_app.config.get("MAX_CREDITS_PER_REQUEST", MAX_CREDITS)), MAX_CREDITS)


def check_credits(amount: object, name: str = "amount", *, signed: bool = False) -> int:
    """Return amount if it is a whole number of credits within the limit (non-zero and of
    either sign when signed, positive otherwise); raise ValidationFailed if not."""
    limit = credit_limit()
    sign = "non-zero" if signed else "positive"
    if type(amount) is not int or amount == 0 or (amount < 0 and not signed):
        raise ValidationFailed(f"{name} must be a {sign} whole number of credits")
    if abs(amount) > limit:
        raise ValidationFailed(f"{name} must be at most {limit:,} credits")
    return amount


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
