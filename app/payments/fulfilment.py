"""Exactly-once fulfilment: one function for the webhook, the return page and reconciliation.

A paid Checkout Session credits its purchase once: the ledger grant is keyed by the
purchase, the purchase row is locked while it changes, and the Stripe event record,
the status change and the ledger entries commit in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from app import ledger
from app.db import write_transaction
from app.domain import audit, mail
from app.domain.purchases import set_status, update_purchase
from app.extensions import db
from app.ledger import Posting, sales_account, user_account
from app.models import OPEN_STATUSES, UNPAID_END_STATUSES, Purchase, PurchaseStatus, utcnow
from app.payments.client import call_stripe, stripe_client
from app.payments.money_events import MoneyState, early_money_state, settle_early_money
from app.payments.outcomes import Outcome, SessionState

log = logging.getLogger(__name__)

CHECKOUT_EVENTS = {
    "checkout.session.completed": None,  # paid or unpaid, from the session's payment_status
    "checkout.session.async_payment_succeeded": SessionState.PAID,
    "checkout.session.async_payment_failed": SessionState.FAILED,
    "checkout.session.expired": SessionState.EXPIRED,
}


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _object_id(value: Any) -> str | None:
    """Return the id of a field that may be an id or an expanded object."""
    return value if isinstance(value, str) or value is None else _field(value, "id")


def session_outcome(session: Any, event_type: str | None = None) -> SessionState:
    """Tell what a Checkout Session (or an event about it) means for its purchase."""
    implied = CHECKOUT_EVENTS.get(event_type or "")
    if implied:
        return implied
    status, payment_status = _field(session, "status"), _field(session, "payment_status")
    if status == "complete":
        paid = payment_status in ("paid", "no_payment_required")
        return SessionState.PAID if paid else SessionState.UNPAID
    if status == "expired":
        return SessionState.EXPIRED
    return SessionState.OPEN


_LOCK = (
    select(Purchase).options(joinedload(Purchase.user, innerjoin=True)).with_for_update(of=Purchase)
)
_LOCK_BY_SESSION = _LOCK.where(Purchase.stripe_checkout_session_id == bindparam("session_id"))
_LOCK_UNLINKED = _LOCK.where(
    Purchase.public_id == bindparam("reference"), Purchase.stripe_checkout_session_id.is_(None)
)


def _locked_purchase(session: Any) -> Purchase | None:
    """Find our purchase for a session and lock its row until commit."""
    session_id = _field(session, "id")
    purchase = db.session.scalar(_LOCK_BY_SESSION, {"session_id": session_id})
    if purchase is not None:
        return purchase
    # Our row exists before its session: link a session we created but never stored.
    reference = _field(session, "client_reference_id")
    if not reference:
        return None
    purchase = db.session.scalar(_LOCK_UNLINKED, {"reference": reference})
    if purchase is not None:
        update_purchase(purchase, stripe_checkout_session_id=session_id)
    return purchase


def mismatch(purchase: Purchase, session: Any) -> str | None:
    """Describe how a session disagrees with our purchase row, or None when it agrees."""
    problems = []
    if _field(session, "amount_total") != purchase.amount_cents:
        problems.append(
            f"amount {_field(session, 'amount_total')} != {purchase.amount_cents} expected"
        )
    if (_field(session, "currency") or "").lower() != purchase.currency:
        problems.append(f"currency {_field(session, 'currency')!r} != {purchase.currency!r}")
    if _field(session, "client_reference_id") != purchase.public_id:
        problems.append(f"client_reference_id {_field(session, 'client_reference_id')!r}")
    customer = _object_id(_field(session, "customer"))
    if (
        customer
        and purchase.user.stripe_customer_id
        and customer != purchase.user.stripe_customer_id
    ):
        problems.append(f"customer {customer} is not the buyer's")
    return "; ".join(problems) or None


def _grant(purchase: Purchase, actor: str) -> ledger.Posted:
    return ledger.post(
        f"purchase:{purchase.public_id}:grant",
        "grant",
        [
            Posting(user_account(purchase.user_id), purchase.credits),
            Posting(sales_account(purchase.id), -purchase.credits),
        ],
        purchase_id=purchase.id,
        description=f"{purchase.package_name} ({purchase.credits:,} credits)",
        actor=actor,
    )


def credit_purchase(
    purchase: Purchase,
    actor: str,
    note: str | None = None,
    *,
    money: MoneyState | None = None,
    **columns: Any,
) -> None:
    """Grant a purchase's credits, mark it completed and queue its one receipt; with the money
    state of refunds or disputes that arrived first, settle those in the same transaction."""
    # The status change first and the grant last: the grant locks the sales account, which
    # every fulfilment needs, so it should be held over as few statements as possible.
    set_status(purchase, PurchaseStatus.COMPLETED, actor, note, **columns)
    posted = _grant(purchase, actor)
    account = user_account(purchase.user_id)
    balance = posted.balances[account] if posted.created else ledger.balance(purchase.user_id)
    if money is not None:
        settle_early_money(purchase, money, actor)
        balance = ledger.balance(purchase.user_id)
    mail.enqueue_receipt(purchase, balance)


def early_money_for_session(session: Any, event_type: str | None = None) -> MoneyState | None:
    """Before crediting a paid session, fetch the money state of refunds or disputes that
    reached us before its purchase knew the payment (None when there were none)."""
    if session_outcome(session, event_type) != SessionState.PAID:
        return None
    return early_money_state(_object_id(_field(session, "payment_intent")))


def apply_session(
    session: Any, event_type: str | None, actor: str, money: MoneyState | None = None
) -> tuple[Outcome, Purchase | None]:
    """Apply a session's state to its purchase inside the caller's write transaction."""
    purchase = _locked_purchase(session)
    if purchase is None:
        log.warning("Checkout Session %s matches no purchase", _field(session, "id"))
        audit.record(actor, "stripe.unknown_session", "checkout_session", _field(session, "id"))
        return Outcome.UNKNOWN_SESSION, None

    problem = mismatch(purchase, session)
    if problem:
        _hold_for_review(purchase, session, problem, actor)
        return Outcome.MISMATCH, purchase

    # Columns to store with whatever this session changes (one UPDATE of the row).
    columns = {}
    payment_intent = _object_id(_field(session, "payment_intent"))
    if payment_intent and not purchase.stripe_payment_intent_id:
        columns["stripe_payment_intent_id"] = payment_intent
    outcome = _apply_outcome(purchase, session_outcome(session, event_type), actor, columns, money)
    return outcome, purchase


def _hold_for_review(purchase: Purchase, session: Any, problem: str, actor: str) -> None:
    """Record a payment that disagrees with our row; an uncredited purchase awaits review."""
    log.error(
        "Checkout Session %s disagrees with %s: %s",
        _field(session, "id"),
        purchase.public_id,
        problem,
    )
    audit.record(actor, "purchase.mismatch", "purchase", purchase.public_id, note=problem)
    if purchase.status in OPEN_STATUSES + UNPAID_END_STATUSES:
        set_status(
            purchase,
            PurchaseStatus.NEEDS_REVIEW,
            actor,
            "payment does not match",
            review_reason=problem,
        )


def _apply_outcome(
    purchase: Purchase,
    outcome: SessionState,
    actor: str,
    columns: dict,
    money: MoneyState | None = None,
) -> Outcome:
    """Move the locked purchase to the state a session's outcome calls for; return what
    happened."""
    status = purchase.status
    result = Outcome.NO_CHANGE
    if outcome == SessionState.PAID:
        if status == PurchaseStatus.NEEDS_REVIEW:
            result = Outcome.NEEDS_REVIEW
        elif status in OPEN_STATUSES + UNPAID_END_STATUSES:
            late = status in UNPAID_END_STATUSES
            note = f"paid after {status}" if late else None
            credit_purchase(purchase, actor, note, money=money, **columns)
            return Outcome.CREDITED
        else:
            result = Outcome.ALREADY_CREDITED
    elif outcome == SessionState.UNPAID and status == PurchaseStatus.PENDING:
        note = "completed, payment not yet received"
        set_status(purchase, PurchaseStatus.PROCESSING, actor, note, **columns)
        return Outcome.PROCESSING
    elif outcome == SessionState.FAILED and status in OPEN_STATUSES:
        note = "the delayed payment failed"
        set_status(purchase, PurchaseStatus.FAILED, actor, note, **columns)
        return Outcome.FAILED
    elif outcome == SessionState.EXPIRED and status == PurchaseStatus.PENDING:
        note = "the Checkout Session expired"
        set_status(purchase, PurchaseStatus.EXPIRED, actor, note, **columns)
        return Outcome.EXPIRED
    if columns:
        update_purchase(purchase, **columns)
    return result


def fulfil_checkout(session: Any, *, source: str, event_type: str | None = None) -> Outcome:
    """Bring a purchase in line with its Checkout Session, crediting it at most once."""
    money = early_money_for_session(session, event_type)
    with write_transaction():
        outcome, _ = apply_session(session, event_type, source, money)
    return outcome


def refresh_from_stripe(purchase: Purchase) -> Purchase:
    """While a purchase awaits payment, ask Stripe now and then and fulfil if it is paid.

    This is what keeps a purchase whose webhook was lost from staying pending.
    """
    if purchase.status not in OPEN_STATUSES or not purchase.stripe_checkout_session_id:
        return purchase
    interval = timedelta(seconds=current_app.config.get("STATUS_CHECK_SECONDS", 3))
    now = utcnow()
    checked = purchase.last_checked_at
    if checked is not None and checked > now - interval:
        # Asked recently (by this or another poll): the row just read is as fresh as a claim.
        return purchase
    with write_transaction():
        claimed = db.session.execute(
            update(Purchase)
            .where(
                Purchase.id == purchase.id,
                (Purchase.last_checked_at.is_(None)) | (Purchase.last_checked_at <= now - interval),
            )
            .values(last_checked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    if claimed:
        session_id = purchase.stripe_checkout_session_id
        try:
            session = call_stripe(
                "retrieve checkout session",
                lambda: stripe_client().v1.checkout.sessions.retrieve(session_id),
            )
        except Exception:  # noqa: BLE001 - the next poll tries again
            log.warning("could not refresh %s from Stripe", purchase.public_id, exc_info=True)
        else:
            if session_outcome(session) != SessionState.OPEN:
                fulfil_checkout(session, source="return_page")
    db.session.refresh(purchase)
    return purchase
