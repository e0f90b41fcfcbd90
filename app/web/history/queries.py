"""Read-only views of a user's purchases and ledger movements for the history pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.db import Page, parse_limit
from app.domain.purchases import purchase_public_ids, user_purchases
from app.models import User

KIND_LABELS = {
    "grant": "Purchase",
    "take_back": "Refund or dispute",
    "restore": "Credits restored",
    "adjustment": "Adjustment",
    "spend": "Spent",
}


@dataclass(frozen=True)
class Movement:
    """One ledger movement on the user's account, as the transactions page shows it."""

    kind: str
    label: str
    amount: int
    balance_after: int
    description: str
    purchase_id: str | None
    created_at: datetime


def purchase_page(user: User, limit: str | None, cursor: str | None) -> Page:
    """Return one page of the user's purchases, newest first."""
    return user_purchases(user, parse_limit(limit), cursor or None)


def movement_page(user: User, limit: str | None, cursor: str | None) -> Page:
    """Return one page of the user's ledger movements with the balance after each."""
    page = ledger.movements(user.id, parse_limit(limit), cursor or None)
    ids = purchase_public_ids({entry.transaction.purchase_id for entry in page.items})
    items = [
        Movement(
            kind=entry.transaction.kind,
            label=KIND_LABELS.get(entry.transaction.kind, entry.transaction.kind),
            amount=entry.amount,
            balance_after=entry.balance_after,
            description=entry.transaction.description,
            purchase_id=ids.get(entry.transaction.purchase_id),
            created_at=entry.created_at,
        )
        for entry in page.items
    ]
    return Page(items, page.next_cursor)
