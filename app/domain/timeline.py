"""A purchase's timeline: Stripe events, ledger postings and audit records in time order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app import ledger
from app.domain.formats import iso
from app.extensions import db
from app.models import AuditLog, Purchase, StripeEvent, User

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
    for txn, amount, balance_after in ledger.purchase_movements(purchase.id):
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
    timeline = [{"at": iso(at), "source": source, **detail} for at, source, detail in items]
    return _name_actors(timeline)


def _user_id(actor: object) -> int | None:
    """Return the user id an actor such as user:42 names, or None for anyone else."""
    prefix, _, rest = str(actor or "").partition(":")
    return int(rest) if prefix == "user" and rest.isdigit() else None


def _name_actors(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add who acted, as people read it: a user's email instead of user:<id>."""
    ids = {_user_id(item.get("actor")) for item in timeline} - {None}
    rows = db.session.execute(select(User.id, User.email).where(User.id.in_(ids))) if ids else []
    emails = {user_id: email for user_id, email in rows}
    for item in timeline:
        item["actor_name"] = emails.get(_user_id(item.get("actor")), item.get("actor"))
    return timeline
