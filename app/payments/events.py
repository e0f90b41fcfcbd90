"""Apply verified Stripe events exactly once, whatever order and however often they arrive."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from .. import audit
from ..database import dialect_insert, write_transaction
from ..extensions import db
from ..models import Purchase, StripeEvent, utcnow
from .client import call_stripe, stripe_client
from .fulfilment import CHECKOUT_EVENTS, apply_session
from .takebacks import settle

log = logging.getLogger(__name__)

CHARGE_EVENTS = ("charge.refunded", "charge.refund.updated")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")


@dataclass
class MoneyState:
    """Stripe's current numbers for a charge, fetched fresh so stale events cannot regress them."""

    charge_id: str
    payment_intent: str | None
    amount_refunded: int
    dispute_status: str | None = None
    dispute_known: bool = False


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else value.get("id")


def fetch_money_state(charge_id: str, dispute_id: str | None = None) -> MoneyState:
    """Ask Stripe for a charge (and a dispute) as they are now."""
    client = stripe_client()
    charge = call_stripe("retrieve charge", lambda: client.v1.charges.retrieve(charge_id))
    state = MoneyState(
        charge_id=charge.id,
        payment_intent=_id(getattr(charge, "payment_intent", None)),
        amount_refunded=int(charge.amount_refunded or 0),
    )
    if dispute_id:
        dispute = call_stripe("retrieve dispute", lambda: client.v1.disputes.retrieve(dispute_id))
        state.dispute_status, state.dispute_known = dispute.status, True
    return state


def _prepare(event: Mapping[str, Any]) -> MoneyState | None:
    """Fetch what an event needs from Stripe, before any database lock is taken."""
    obj, kind = event["data"]["object"], event["type"]
    if kind == "charge.refunded":
        return fetch_money_state(obj["id"])
    if kind == "charge.refund.updated":
        return fetch_money_state(_id(obj.get("charge")))
    if kind in DISPUTE_EVENTS:
        return fetch_money_state(_id(obj.get("charge")), obj["id"])
    return None


def money_handler(
    obj: Mapping[str, Any], event_type: str, state: MoneyState, actor: str = "stripe"
) -> tuple[str, Purchase | None]:
    purchase = None
    if state.payment_intent:
        purchase = db.session.scalar(
            select(Purchase)
            .where(Purchase.stripe_payment_intent_id == state.payment_intent)
            .with_for_update()
        )
    if purchase is None:
        log.warning("%s for charge %s matches no purchase", event_type, state.charge_id)
        audit.record(actor, "stripe.unknown_charge", "charge", state.charge_id, note=event_type)
        return "unknown_charge", None
    purchase.stripe_charge_id = purchase.stripe_charge_id or state.charge_id
    dispute = state.dispute_status if state.dispute_known else purchase.dispute_status
    return settle(
        purchase, refunded_cents=state.amount_refunded, dispute_status=dispute, actor=actor
    ), purchase


Handler = Callable[[Mapping[str, Any], str, Any], tuple[str, Purchase | None]]
HANDLERS: dict[str, Handler] = {
    **{
        name: lambda obj, kind, _state: apply_session(obj, kind, "stripe")
        for name in CHECKOUT_EVENTS
    },
    **{name: money_handler for name in CHARGE_EVENTS + DISPUTE_EVENTS},
}
HANDLED_TYPES = tuple(HANDLERS)


def _already_recorded(event_id: str) -> bool:
    return (
        db.session.scalar(select(StripeEvent.id).where(StripeEvent.event_id == event_id))
        is not None
    )


def _record(event: Mapping[str, Any]) -> int | None:
    """Record a Stripe event id; None when it was already recorded (a redelivery)."""
    obj = event["data"]["object"]
    return db.session.scalar(
        dialect_insert(StripeEvent)
        .values(
            event_id=event["id"],
            type=event["type"],
            livemode=bool(event.get("livemode")),
            object_id=obj.get("id"),
            received_at=utcnow(),
            outcome="received",
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    )


def handle_event(event: Mapping[str, Any]) -> str:
    """Apply a verified Stripe event once; a redelivered event changes nothing."""
    if _already_recorded(event["id"]):
        return "duplicate"
    handler = HANDLERS.get(event["type"])
    state = _prepare(event) if handler else None
    with write_transaction():
        row_id = _record(event)
        if row_id is None:
            return "duplicate"
        if handler is None:
            outcome, purchase = "ignored", None
        else:
            outcome, purchase = handler(event["data"]["object"], event["type"], state)
        db.session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == row_id)
            .values(
                outcome=outcome,
                processed_at=utcnow(),
                purchase_id=purchase.id if purchase is not None else None,
            )
        )
    return outcome
