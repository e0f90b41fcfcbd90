"""Resolving purchases that need review, by an admin, with a note, audited."""

from __future__ import annotations

from sqlalchemy import select

from app import ledger
from app.db import write_transaction
from app.domain import audit
from app.domain.purchases import set_status
from app.errors import ValidationFailed
from app.extensions import db
from app.ledger import Posting, sales_account, user_account
from app.models import Purchase, PurchaseStatus, User
from app.payments.fulfilment import credit_purchase
from app.payments.money_events import early_money_state
from app.payments.takebacks import money_status, taken_back

# A purchase that was never credited (its payment did not match) is credited or failed;
# one that was credited but Stripe does not show as paid is confirmed or taken back.
UNCREDITED_ACTIONS = ("credit", "fail")
CREDITED_ACTIONS = ("confirm", "take_back")


def was_credited(purchase: Purchase) -> bool:
    """Tell whether the purchase's credits were granted."""
    return ledger.was_granted(purchase.id)


def review_actions(purchase: Purchase) -> tuple[str, ...]:
    """Return the resolutions open to a purchase in needs_review."""
    if purchase.status != PurchaseStatus.NEEDS_REVIEW:
        return ()
    return CREDITED_ACTIONS if was_credited(purchase) else UNCREDITED_ACTIONS


def resolve_review(purchase: Purchase, admin: User, action: object, note: object) -> Purchase:
    """Apply an admin's resolution to a needs_review purchase."""
    if not isinstance(note, str) or not note.strip():
        raise ValidationFailed("a note explaining the resolution is required")
    actor = f"user:{admin.id}"
    # Refunds or disputes that arrived before the purchase was credited are read first.
    money = early_money_state(purchase.stripe_payment_intent_id) if action == "credit" else None
    with write_transaction():
        row = db.session.scalar(
            select(Purchase).where(Purchase.id == purchase.id).with_for_update()
        )
        allowed = review_actions(row)
        if not allowed:
            raise ValidationFailed("only a purchase that needs review can be resolved")
        if action not in allowed:
            raise ValidationFailed(f"action must be one of: {', '.join(allowed)}")
        before = {"status": str(row.status)}
        if action == "credit":
            credit_purchase(row, actor, note, money=money)
        elif action == "fail":
            set_status(row, PurchaseStatus.FAILED, actor, note)
        elif action == "confirm":
            set_status(row, money_status(row), actor, note)
        else:
            remaining = row.credits - taken_back(row)
            if remaining > 0:
                ledger.post(
                    f"purchase:{row.public_id}:review_take_back",
                    "take_back",
                    [
                        Posting(user_account(row.user_id), -remaining),
                        Posting(sales_account(row.id), remaining),
                    ],
                    purchase_id=row.id,
                    description=f"{row.package_name}: not paid at Stripe",
                    actor=actor,
                )
            set_status(row, PurchaseStatus.FAILED, actor, note)
        audit.record(
            actor,
            "review.resolved",
            "purchase",
            row.public_id,
            before=before,
            after={"status": str(row.status), "action": action},
            note=note.strip(),
        )
    db.session.refresh(purchase)
    return purchase
