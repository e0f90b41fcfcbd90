"""Apply verified Stripe events exactly once, whatever order and however often they arrive."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import bindparam, select

from app.db import dialect_name, insert_ignoring, run, write_transaction
from app.domain import audit
from app.errors import Retryable, StripeUnavailable
from app.extensions import db
from app.models import Purchase, StripeEvent, utcnow
from app.payments.client import call_stripe, stripe_client
from app.payments.event_shapes import malformed, record_id, record_type
from app.payments.fulfilment import CHECKOUT_EVENTS, apply_session
from app.payments.outcomes import Outcome
from app.payments.takebacks import settle

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


def _missing(exc: StripeUnavailable) -> bool:
    """Tell whether Stripe said the object does not exist (a permanent answer)."""
    cause = exc.__cause__
    return isinstance(cause, stripe.InvalidRequestError) and cause.code == "resource_missing"


def fetch_money_state(charge_id: str, dispute_id: str | None = None) -> MoneyState | None:
    """Ask Stripe for a charge (and a dispute) as they are now; None when Stripe says it has no
    such object. Any other failure is Retryable: the same read may work later."""
    try:
        return _read_money_state(charge_id, dispute_id)
    except StripeUnavailable as exc:
        if _missing(exc):
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


_events = StripeEvent.__table__
_RECORDED = select(_events.c.id).where(_events.c.event_id == bindparam("event_id"))


@functools.cache
def _insert_event(dialect: str):
    return insert_ignoring(_events, "event_id", dialect=dialect).returning(_events.c.id)


def _already_recorded(event_id: str) -> bool:
    return run(_RECORDED, {"event_id": event_id}).first() is not None


def _record(
    event: Mapping[str, Any],
    outcome: str,
    purchase: Purchase | None,
    *,
    event_id: str | None = None,
    detail: str | None = None,
) -> int | None:
    """Record a handled Stripe event; None when it was already recorded (a redelivery)."""
    now = utcnow()
    return run(
        _insert_event(dialect_name()),
        {
            "event_id": event_id or event["id"],
            "type": record_type(event),
            "livemode": bool(event.get("livemode")),
            "object_id": None if detail else event["data"]["object"].get("id"),
            "purchase_id": purchase.id if purchase is not None else None,
            "received_at": now,
            "processed_at": now,
            "outcome": outcome,
            "detail": detail,
        },
    ).scalar()


def _record_malformed(event: Mapping[str, Any], body: bytes, problem: str) -> Outcome:
    """Acknowledge a signed event no handler can use: record it, change nothing else."""
    event_id = record_id(event, body)
    log.error("malformed Stripe event %s (%s): %s", event_id, record_type(event), problem)
    with write_transaction():
        recorded = _record(event, Outcome.MALFORMED, None, event_id=event_id, detail=problem)
    return Outcome.MALFORMED if recorded is not None else Outcome.DUPLICATE


class _Redelivered(Exception):
    """A concurrent delivery of the same event committed first."""


def handle_event(event: Mapping[str, Any], body: bytes = b"") -> str:
    """Apply a verified Stripe event once; a redelivered event changes nothing.

    The event's record is written last, in the same transaction as its effects: when a
    concurrent delivery of the same event committed first, the unique event id refuses
    the record and everything this delivery did is rolled back.
    """
    problem = malformed(event)
    if problem:
        return _record_malformed(event, body, problem)
    if _already_recorded(event["id"]):
        return Outcome.DUPLICATE
    handler = HANDLERS.get(event["type"])
    state = _prepare(event) if handler else None
    try:
        with write_transaction():
            if handler is None:
                outcome, purchase = Outcome.IGNORED, None
            else:
                outcome, purchase = handler(event["data"]["object"], event["type"], state)
            if _record(event, outcome, purchase) is None:
                raise _Redelivered
    except _Redelivered:
        return Outcome.DUPLICATE
    return outcome
