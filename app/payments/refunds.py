"""Admin refunds: ask Stripe to refund; credits move when Stripe reports the refund."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import stripe
from sqlalchemy import func, select

from app.db import dialect_insert, write_transaction
from app.domain import audit
from app.domain.formats import check_cents, money
from app.errors import LedgerConflict, StripeRefused, StripeUnavailable, ValidationFailed
from app.extensions import db
from app.models import PAID_STATUSES, Purchase, RefundRequest, User
from app.payments.client import call_stripe, stripe_client
from app.payments.takebacks import refund_target, taken_back


@dataclass
class RefundResult:
    request: RefundRequest
    created: bool  # False when an earlier request with the same key is returned


def _key(purchase: Purchase, idempotency_key: object) -> str:
    if idempotency_key is None:
        return f"credits-refund:{purchase.public_id}:{uuid.uuid4().hex}"
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key.strip()) <= 200:
        raise ValidationFailed("idempotency_key must be a string of 1 to 200 characters")
    return f"credits-refund:{purchase.public_id}:{idempotency_key.strip()}"


# Refunds Stripe took on that may not have reached us as events yet.
IN_FLIGHT = ("pending", "requires_action", "succeeded")


def refunded_so_far(purchase: Purchase) -> int:
    """Return what has been refunded, counting refunds sent from here before Stripe's events
    for them arrive (and refunds made elsewhere once their events have)."""
    sent = db.session.scalar(
        select(func.coalesce(func.sum(RefundRequest.amount_cents), 0)).where(
            RefundRequest.purchase_id == purchase.id,
            RefundRequest.stripe_refund_id.is_not(None),
            RefundRequest.status.in_(IN_FLIGHT),
        )
    )
    return min(max(purchase.refunded_cents, int(sent)), purchase.amount_cents)


def refundable_left(purchase: Purchase) -> int:
    """Return how much of a purchase can still be refunded."""
    return purchase.amount_cents - refunded_so_far(purchase)


def credits_taken_back_by(purchase: Purchase, amount_cents: int) -> int:
    """Return how many more credits a refund of this amount takes back (while a dispute holds
    them all, none)."""
    before = refunded_so_far(purchase)
    ceiling = refund_target(purchase.credits, purchase.amount_cents, before + amount_cents)
    already = max(
        refund_target(purchase.credits, purchase.amount_cents, before), taken_back(purchase)
    )
    return max(ceiling - already, 0)


def refund_amount(purchase: Purchase, amount_cents: object = None) -> int:
    """Check a refund of a purchase; return its amount (default: all that is left)."""
    if purchase.status not in PAID_STATUSES or not purchase.stripe_payment_intent_id:
        raise ValidationFailed("only a paid purchase can be refunded")
    left = refundable_left(purchase)
    if left <= 0:
        raise ValidationFailed("nothing is left to refund")
    amount = left if amount_cents is None else amount_cents
    check_cents(amount, currency=purchase.currency)
    if amount > left:
        raise ValidationFailed(
            f"only {money(left, purchase.currency)} ({left} cents) is left to refund"
        )
    return amount


def refund_purchase(
    purchase: Purchase, admin: User, amount_cents: object = None, idempotency_key: object = None
) -> RefundResult:
    """Refund all that is left of a paid purchase, or part of it, once per idempotency key."""
    key = _key(purchase, idempotency_key)
    existing = db.session.scalar(select(RefundRequest).where(RefundRequest.idempotency_key == key))
    if existing is not None:
        if amount_cents is not None and amount_cents != existing.amount_cents:
            raise LedgerConflict("this idempotency_key was used for another amount")
        if existing.stripe_refund_id:
            return RefundResult(existing, created=False)
        return RefundResult(_send(purchase, existing), created=False)

    amount = refund_amount(purchase, amount_cents)
    with write_transaction() as session:
        row_id = session.scalar(
            dialect_insert(RefundRequest)
            .values(
                purchase_id=purchase.id,
                idempotency_key=key,
                amount_cents=amount,
                actor=f"user:{admin.id}",
                status="requested",
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(RefundRequest.id)
        )
        if row_id is not None:
            audit.record(
                f"user:{admin.id}",
                "refund.requested",
                "purchase",
                purchase.public_id,
                after={"amount_cents": amount, "idempotency_key": key},
            )
    request = db.session.scalar(select(RefundRequest).where(RefundRequest.idempotency_key == key))
    return RefundResult(_send(purchase, request), created=row_id is not None)


def _send(purchase: Purchase, request: RefundRequest) -> RefundRequest:
    client = stripe_client()
    try:
        refund = call_stripe(
            "create refund",
            lambda: client.v1.refunds.create(
                {
                    "payment_intent": purchase.stripe_payment_intent_id,
                    "amount": request.amount_cents,
                    "metadata": {"purchase_id": purchase.public_id},
                },
                {"idempotency_key": request.idempotency_key},
            ),
        )
    except StripeUnavailable as exc:
        refused = exc.__cause__
        if not isinstance(refused, stripe.InvalidRequestError):
            raise
        # Stripe's own numbers win (a refund made elsewhere may not have reached us yet).
        with write_transaction():
            db.session.get(RefundRequest, request.id).status = "refused"
        raise StripeRefused(
            f"Stripe refused the refund: {refused.user_message or refused}. Nothing was refunded."
        ) from exc
    with write_transaction():
        row = db.session.get(RefundRequest, request.id)
        row.stripe_refund_id, row.status = refund.id, refund.status
    db.session.refresh(request)
    return request
