"""Refund and dispute events: Stripe's money state for a charge, read fresh before any lock,
and applied to its purchase only if no newer state was applied since it was read."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from app.domain import audit
from app.errors import Retryable, StripeUnavailable
from app.extensions import db
from app.models import Purchase, StripeEvent
from app.payments.client import call_stripe, is_missing, stripe_client
from app.payments.outcomes import Outcome
from app.payments.takebacks import settle

log = logging.getLogger(__name__)

CHARGE_EVENTS = ("charge.refunded", "charge.refund.updated")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
MONEY_EVENTS = CHARGE_EVENTS + DISPUTE_EVENTS


class StaleMoneyState(Exception):
    """Another money state was applied to the purchase after this one was read from Stripe."""


@dataclass
class MoneyState:
    """Stripe's current numbers for a charge, fetched fresh so stale events cannot regress them."""

    charge_id: str
    payment_intent: str | None
    amount_refunded: int
    dispute_status: str | None = None
    dispute_known: bool = False
    # The purchase's settlement_version read before Stripe was (None: do not check).
    version_seen: int | None = None


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else value.get("id")


def fetch_money_state(charge_id: str, dispute_id: str | None = None) -> MoneyState | None:
    """Ask Stripe for a charge (and a dispute) as they are now; None when Stripe says it has no
    such object. Any other failure is Retryable: the same read may work later."""
    try:
        return _read_money_state(charge_id, dispute_id)
    except StripeUnavailable as exc:
        if is_missing(exc):
            return None
        raise Retryable("Stripe could not be read; the event will be delivered again") from exc


def _read_money_state(charge_id: str, dispute_id: str | None) -> MoneyState:
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


_VERSION = select(Purchase.settlement_version).where(
    Purchase.stripe_payment_intent_id == bindparam("intent")
)


def _version(payment_intent: str | None) -> int | None:
    if not payment_intent:
        return None
    return db.session.scalar(_VERSION, {"intent": payment_intent})


def _fetch_for(event: Mapping[str, Any]) -> MoneyState | None:
    obj, kind = event["data"]["object"], event["type"]
    if kind == "charge.refunded":
        return fetch_money_state(obj["id"])
    if kind == "charge.refund.updated":
        return fetch_money_state(_id(obj.get("charge")))
    return fetch_money_state(_id(obj.get("charge")), obj["id"])


def prepare(event: Mapping[str, Any]) -> MoneyState | None:
    """Fetch a money event's state from Stripe before any lock is taken, noting the purchase's
    settlement version as it was before the fetch (a state applied after that is newer)."""
    if event["type"] not in MONEY_EVENTS:
        return None
    seen = _version(_id(event["data"]["object"].get("payment_intent")))
    state = _fetch_for(event)
    if state is not None and seen is None:
        # The event did not name its payment: learn the purchase from Stripe, then read again.
        seen = _version(state.payment_intent)
        if seen is not None:
            state = _fetch_for(event)
    if state is not None:
        state.version_seen = seen
    return state


_UNMATCHED = (
    select(StripeEvent.charge_id, StripeEvent.type, StripeEvent.object_id)
    .where(
        StripeEvent.payment_intent_id == bindparam("intent"),
        StripeEvent.outcome == Outcome.UNKNOWN_CHARGE,
    )
    .order_by(StripeEvent.id)
)


def early_money_state(payment_intent: str | None) -> MoneyState | None:
    """For a payment about to be credited: if refund or dispute events for it arrived before
    its purchase knew the payment, fetch its money state from Stripe now (before any lock)."""
    if not payment_intent:
        return None
    rows = db.session.execute(_UNMATCHED, {"intent": payment_intent}).all()
    if not rows:
        return None
    disputes = [object_id for _, kind, object_id in rows if kind in DISPUTE_EVENTS]
    seen = _version(payment_intent)
    state = fetch_money_state(rows[-1].charge_id, disputes[-1] if disputes else None)
    if state is not None:
        state.version_seen = seen
    return state


def settle_early_money(purchase: Purchase, state: MoneyState | None, actor: str) -> None:
    """In the transaction that credits a purchase, apply the refunds and disputes that
    arrived before it (unless a newer money state was applied since it was read)."""
    if state is None or state.payment_intent != purchase.stripe_payment_intent_id:
        return
    if not _is_stale(state, purchase):
        _apply_state(purchase, state, actor)


def _is_stale(state: MoneyState, purchase: Purchase) -> bool:
    """Tell whether another money state was applied to the purchase after this one was read."""
    return state.version_seen is not None and purchase.settlement_version != state.version_seen


def _apply_state(purchase: Purchase, state: MoneyState, actor: str) -> str:
    """Settle the locked purchase on Stripe's numbers (a dispute not named keeps its status)."""
    purchase.stripe_charge_id = purchase.stripe_charge_id or state.charge_id
    dispute = state.dispute_status if state.dispute_known else purchase.dispute_status
    return settle(
        purchase, refunded_cents=state.amount_refunded, dispute_status=dispute, actor=actor
    )


def money_handler(
    obj: Mapping[str, Any], event_type: str, state: MoneyState | None, actor: str = "stripe"
) -> tuple[str, Purchase | None]:
    purchase = None
    if state is None:
        charge_id = _id(obj.get("charge")) if obj.get("object") != "charge" else obj.get("id")
        log.warning("%s names charge %s, which Stripe does not have", event_type, charge_id)
        audit.record(actor, "stripe.unknown_charge", "charge", charge_id, note=event_type)
        return Outcome.UNKNOWN_CHARGE, None
    if state.payment_intent:
        purchase = db.session.scalar(
            select(Purchase)
            .where(Purchase.stripe_payment_intent_id == state.payment_intent)
            .with_for_update()
        )
    if purchase is None:
        log.warning("%s for charge %s matches no purchase", event_type, state.charge_id)
        audit.record(actor, "stripe.unknown_charge", "charge", state.charge_id, note=event_type)
        return Outcome.UNKNOWN_CHARGE, None
    if _is_stale(state, purchase):
        raise StaleMoneyState(purchase.public_id)
    return _apply_state(purchase, state, actor), purchase
