"""Apply verified Stripe events exactly once, whatever order and however often they arrive."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, select

from app.db import dialect_name, insert_ignoring, run, write_transaction
from app.errors import Retryable
from app.models import Purchase, StripeEvent, utcnow
from app.payments.event_shapes import malformed, record_id, record_type
from app.payments.fulfilment import CHECKOUT_EVENTS, apply_session, early_money_for_session
from app.payments.money_events import (
    MONEY_EVENTS,
    MoneyState,
    StaleMoneyState,
    money_handler,
    prepare,
)
from app.payments.outcomes import Outcome

log = logging.getLogger(__name__)

# How often an event re-reads Stripe when newer money states keep landing before its own.
STALE_RETRIES = 5


Handler = Callable[[Mapping[str, Any], str, Any], tuple[str, Purchase | None]]
HANDLERS: dict[str, Handler] = {
    **{
        name: lambda obj, kind, money: apply_session(obj, kind, "stripe", money)
        for name in CHECKOUT_EVENTS
    },
    **{name: money_handler for name in MONEY_EVENTS},
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
    money: MoneyState | None = None,
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
            "payment_intent_id": money.payment_intent if money else None,
            "charge_id": money.charge_id if money else None,
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
    for _ in range(STALE_RETRIES):
        try:
            return _apply(event, handler, _prepare(event) if handler else None)
        except StaleMoneyState:
            continue  # a newer state was applied meanwhile: read Stripe again
    raise Retryable("newer money states kept arriving; the event will be delivered again")


def _prepare(event: Mapping[str, Any]) -> MoneyState | None:
    """Read from Stripe what an event needs, before its transaction takes any lock."""
    if event["type"] in CHECKOUT_EVENTS:
        return early_money_for_session(event["data"]["object"], event["type"])
    return prepare(event)


def _apply(event: Mapping[str, Any], handler: Handler | None, state: Any) -> str:
    """Run the handler and record the event in one write transaction."""
    try:
        with write_transaction():
            if handler is None:
                outcome, purchase = Outcome.IGNORED, None
            else:
                outcome, purchase = handler(event["data"]["object"], event["type"], state)
            if _record(event, outcome, purchase, money=state) is None:
                raise _Redelivered
    except _Redelivered:
        return Outcome.DUPLICATE
    return outcome
