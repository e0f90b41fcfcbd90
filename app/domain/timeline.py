"""A purchase's timeline: Stripe events, ledger postings and audit records in time order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import (
    AuditLog,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Purchase,
    StripeEvent,
)
from app.web.template_filters import iso

SOURCE_ORDER = {"stripe": 0, "audit": 1, "ledger": 2}


def purchase_timeline(purchase: Purchase) -> list[dict[str, Any]]:
    """Return everything that happened to a purchase, oldest first."""
    items: list[tuple] = []
    for event in db.session.scalars(
        select(StripeEvent).where(StripeEvent.purchase_id == purchase.id)
    ):
        items.append(
            (
                event.received_at,
                "stripe",
                {"type": event.type, "event_id": event.event_id, "outcome": event.outcome},
            )
        )
    user_amounts = (
        select(LedgerTransaction, LedgerEntry.amount, LedgerEntry.balance_after)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.purchase_id == purchase.id, LedgerAccount.user_id.is_not(None))
    )
    for txn, amount, balance_after in db.session.execute(user_amounts):
        items.append(
            (
                txn.created_at,
                "ledger",
                {
                    "type": txn.kind,
                    "credits": amount,
                    "balance_after": balance_after,
                    "key": txn.idempotency_key,
                    "description": txn.description,
                },
            )
        )
    for record in db.session.scalars(
        select(AuditLog).where(
            AuditLog.subject_type == "purchase", AuditLog.subject_id == purchase.public_id
        )
    ):
        items.append(
            (
                record.created_at,
                "audit",
                {
                    "type": record.action,
                    "actor": record.actor,
                    "before": record.before,
                    "after": record.after,
                    "note": record.note,
                },
            )
        )
    items.sort(key=lambda item: (item[0], SOURCE_ORDER[item[1]]))
    return [{"at": iso(at), "source": source, **detail} for at, source, detail in items]
