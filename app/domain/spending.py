"""Spending credits: the service that sells what credits buy calls this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import ledger
from app.db import write_transaction
from app.errors import LedgerConflict, ValidationFailed
from app.ledger import SPEND_ACCOUNT, Posting, user_account
from app.models import User


@dataclass
class SpendResult:
    transaction_id: int
    balance: int
    created: bool


def validate_spend(body: Any) -> tuple[int, str, str]:
    """Check a spend request body; return (amount, idempotency_key, description)."""
    if not isinstance(body, dict):
        raise ValidationFailed('send a JSON body like {"amount": 5, "idempotency_key": "..."}')
    amount, key = body.get("amount"), body.get("idempotency_key")
    description = body.get("description", "")
    ledger.check_credits(amount)
    if not isinstance(key, str) or not 1 <= len(key.strip()) <= 200:
        raise ValidationFailed("idempotency_key must be a string of 1 to 200 characters")
    if not isinstance(description, str) or len(description) > 500:
        raise ValidationFailed("description must be a string of at most 500 characters")
    return amount, key.strip(), description.strip()


def spend(user: User, amount: int, key: str, description: str) -> SpendResult:
    """Take credits from a user's balance once per key; never below zero."""
    with write_transaction():
        try:
            posted = ledger.post(
                f"spend:{user.id}:{key}",
                "spend",
                [Posting(user_account(user.id), -amount), Posting(SPEND_ACCOUNT, amount)],
                description=description or "credits spent",
                actor=f"user:{user.id}",
            )
        except LedgerConflict:
            raise LedgerConflict(
                f"idempotency_key {key!r} was already used for a different spend; "
                "send a new key for a new spend"
            ) from None
        balance_after = ledger.balance_after(posted.transaction_id, user.id)
    return SpendResult(posted.transaction_id, balance_after, posted.created)
