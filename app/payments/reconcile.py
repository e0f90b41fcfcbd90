"""Reconciliation: compare Stripe's view with our purchases and ledger, and repair drift.

Repairs go through the same fulfilment and take-back functions as the webhook, so a
run can overlap webhook deliveries (and cron can run it every few minutes) without
ever crediting twice. Credited-but-unpaid purchases are never debited automatically:
they are marked needs_review for an admin.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from app.db import write_transaction
from app.domain import audit
from app.domain.purchases import lock_purchase, set_status
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    PAID_STATUSES,
    UNPAID_END_STATUSES,
    Purchase,
    PurchaseStatus,
    utcnow,
)
from app.payments.client import call_stripe, stripe_client
from app.payments.fulfilment import fulfil_checkout, session_outcome
from app.payments.money_events import (
    CHARGE_EVENTS,
    DISPUTE_EVENTS,
    fetch_money_state,
    money_handler,
)
from app.payments.outcomes import Outcome, SessionState
from app.payments.takebacks import taken_back, target_taken_back

LOCK_NAME = "credits-reconcile"
Bar = Callable[[list, str], contextlib.AbstractContextManager[Iterable]]

PAID_NOT_CREDITED = "paid_not_credited"
NOT_TAKEN_BACK = "not_taken_back"
PENDING_PAST_EXPIRY = "pending_past_expiry"
CREDITED_NOT_PAID = "credited_not_paid"


class ReconcileLocked(RuntimeError):
    """Another reconcile run holds the lock."""


@dataclass
class Drift:
    kind: str
    purchase: Purchase
    detail: str
    result: str = "not repaired"
    resolved: bool = False


@dataclass
class Report:
    items: list[Drift] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[Drift]:
        return [item for item in self.items if not item.resolved]


def parse_duration(raw: str) -> timedelta:
    """Parse 30m, 72h or 7d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    raw = raw.strip().lower()
    if len(raw) < 2 or raw[-1] not in units or not raw[:-1].isdigit() or int(raw[:-1]) <= 0:
        raise ValueError(f"{raw!r} is not a duration like 30m, 72h or 7d")
    return timedelta(**{units[raw[-1]]: int(raw[:-1])})


@contextlib.contextmanager
def run_lock() -> Iterator[None]:
    """Hold the reconcile lock: a PostgreSQL advisory lock, or a lock file beside SQLite."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(LOCK_NAME.encode())
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
                raise ReconcileLocked("another reconcile run is in progress")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    path = f"{engine.url.database or 'memory'}.reconcile.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ReconcileLocked("another reconcile run is in progress") from exc
        yield
    finally:
        os.close(fd)


def _no_bar(items: list, _label: str) -> contextlib.AbstractContextManager[Iterable]:
    return contextlib.nullcontext(items)


def _list(what: str, resource, params: dict[str, Any]) -> list:
    page = call_stripe(f"list {what}", lambda: resource.list(params))
    return call_stripe(f"list {what}", lambda: list(page.auto_paging_iter()))


def _purchase_for_session(session: Any) -> Purchase | None:
    purchase = db.session.scalar(
        select(Purchase).where(Purchase.stripe_checkout_session_id == session.id)
    )
    if purchase is None and getattr(session, "client_reference_id", None):
        purchase = db.session.scalar(
            select(Purchase).where(
                Purchase.public_id == session.client_reference_id,
                Purchase.stripe_checkout_session_id.is_(None),
            )
        )
    return purchase


def _check_session(session: Any, apply: bool, report: Report) -> None:
    purchase = _purchase_for_session(session)
    if purchase is None:
        return
    outcome, status = session_outcome(session), purchase.status
    if outcome == SessionState.PAID and status in OPEN_STATUSES + UNPAID_END_STATUSES:
        item = Drift(
            PAID_NOT_CREDITED, purchase, f"Stripe shows {session.id} paid; ours is {status}"
        )
        if apply:
            item.result = fulfil_checkout(session, source="reconcile")
            item.resolved = item.result in (Outcome.CREDITED, Outcome.ALREADY_CREDITED)
    elif outcome == SessionState.PAID and status == PurchaseStatus.NEEDS_REVIEW:
        item = Drift(
            PAID_NOT_CREDITED, purchase, f"paid, {purchase.review_reason}", "needs review", True
        )
    elif outcome != SessionState.PAID and status in PAID_STATUSES:
        item = Drift(
            CREDITED_NOT_PAID,
            purchase,
            f"credited, but Stripe shows {session.id} {session.status}/{session.payment_status}",
        )
        if apply:
            _mark_for_review(purchase, item.detail)
            item.result, item.resolved = "marked needs_review", True
    elif outcome != SessionState.PAID and status == PurchaseStatus.NEEDS_REVIEW:
        return  # already waiting for an admin; listed by the needs_review check
    elif status == PurchaseStatus.PENDING and _past_expiry(purchase, session):
        item = Drift(PENDING_PAST_EXPIRY, purchase, f"session {session.id} is {session.status}")
        if apply:
            item.result = _expire(purchase, session)
            item.resolved = item.result in (Outcome.EXPIRED, Outcome.CREDITED, Outcome.NO_CHANGE)
    else:
        return
    if apply and item.resolved:
        _record_repair(item)
    report.items.append(item)


def _record_repair(item: Drift) -> None:
    with write_transaction():
        audit.record(
            "reconcile",
            "reconcile.repaired",
            "purchase",
            item.purchase.public_id,
            after={"kind": item.kind, "result": item.result},
            note=item.detail,
        )


def _past_expiry(purchase: Purchase, session: Any) -> bool:
    if session.status == "expired":
        return True
    expires = purchase.checkout_expires_at or datetime.fromtimestamp(session.expires_at, UTC)
    return expires < utcnow()


def _expire(purchase: Purchase, session: Any) -> str:
    """Settle a pending purchase whose session is past its expiry, from Stripe's own view."""
    client = stripe_client()
    if session.status == "open":
        session = call_stripe(
            "expire checkout session",
            lambda: client.v1.checkout.sessions.expire(
                session.id, options={"idempotency_key": f"credits-expire:{session.id}"}
            ),
        )
    return fulfil_checkout(session, source="reconcile")


def _mark_for_review(purchase: Purchase, reason: str) -> None:
    with write_transaction():
        row = lock_purchase(purchase.id)
        if row.status in PAID_STATUSES:
            set_status(
                row,
                PurchaseStatus.NEEDS_REVIEW,
                "reconcile",
                "credited, not paid at Stripe",
                review_reason=f"reconcile: {reason}",
            )


def _check_charge(charge_id: str, dispute_id: str | None, apply: bool, report: Report) -> None:
    state = fetch_money_state(charge_id, dispute_id)
    if state is None:
        return  # Stripe listed it but has no such charge now: nothing to compare
    purchase = db.session.scalar(
        select(Purchase).where(Purchase.stripe_payment_intent_id == state.payment_intent)
    )
    if purchase is None or purchase.status not in PAID_STATUSES:
        return
    dispute = state.dispute_status if state.dispute_known else purchase.dispute_status
    want = target_taken_back(purchase, state.amount_refunded, dispute)
    have = taken_back(purchase)
    if want == have:
        return
    item = Drift(
        NOT_TAKEN_BACK,
        purchase,
        f"{state.amount_refunded} cents refunded, dispute {dispute or 'none'}: "
        f"{want} credits should be taken back, {have} are",
    )
    if apply:
        with write_transaction():
            item.result, _ = money_handler({}, "reconcile", state, actor="reconcile")
        item.resolved = True
        _record_repair(item)
    report.items.append(item)


def reconcile(since: timedelta, *, apply: bool = False, bar: Bar = _no_bar) -> Report:
    """Find (and with apply, repair) drift between Stripe and us for objects created since."""
    client = stripe_client()
    window = {"created": {"gte": int((utcnow() - since).timestamp())}, "limit": 100}
    sessions = _list("checkout sessions", client.v1.checkout.sessions, window)
    charges = _charges_to_check(client, window)
    failed = _list("events", client.v1.events, {**window, "delivery_success": False})
    sessions.extend(_sessions_of_failed_events(client, failed, sessions, charges))
    sessions.extend(_sessions_of_stale_purchases(client, {s.id for s in sessions}))

    report = Report(
        checked={"sessions": len(sessions), "charges": len(charges), "failed_events": len(failed)}
    )
    with bar(sessions, "Checkout Sessions") as items:
        for session in items:
            _check_session(session, apply, report)
    with bar(list(charges.items()), "Refunds and disputes") as items:
        for charge_id, dispute_id in items:
            _check_charge(charge_id, dispute_id, apply, report)
    listed = {item.purchase.id for item in report.items}
    for purchase in db.session.scalars(
        select(Purchase).where(Purchase.status == PurchaseStatus.NEEDS_REVIEW)
    ):
        if purchase.id not in listed:
            report.items.append(
                Drift("needs_review", purchase, purchase.review_reason or "", "needs review", True)
            )
    return report


def _charges_to_check(client, window: dict[str, Any]) -> dict[str, str | None]:
    """Map each charge refunded or disputed in the window to its dispute id (or None)."""
    charges: dict[str, str | None] = {}
    for refund in _list("refunds", client.v1.refunds, window):
        charges.setdefault(_id(refund.charge), None)
    for dispute in _list("disputes", client.v1.disputes, window):
        charges[_id(dispute.charge)] = dispute.id
    return charges


def _sessions_of_failed_events(
    client, failed: list, sessions: list, charges: dict[str, str | None]
) -> list:
    """Return the sessions whose event deliveries failed and are not listed yet; add the
    charges of failed refund and dispute events to charges."""
    session_ids = {s.id for s in sessions}
    found = []
    for event in failed:
        obj = event.data.object
        if event.type.startswith("checkout.session.") and obj.id not in session_ids:
            found.append(
                call_stripe(
                    "retrieve session", lambda o=obj: client.v1.checkout.sessions.retrieve(o.id)
                )
            )
            session_ids.add(obj.id)
        elif event.type in CHARGE_EVENTS:
            charges.setdefault(obj.id if obj.object == "charge" else _id(obj.charge), None)
        elif event.type in DISPUTE_EVENTS:
            charges[_id(obj.charge)] = obj.id
    return found


def _sessions_of_stale_purchases(client, session_ids: set[str]) -> list:
    """Return the sessions of pending purchases past their expiry that are not listed yet."""
    stale = db.session.scalars(
        select(Purchase).where(
            Purchase.status == PurchaseStatus.PENDING,
            Purchase.checkout_expires_at < utcnow(),
            Purchase.stripe_checkout_session_id.is_not(None),
        )
    ).all()
    found = []
    for purchase in stale:
        session_id = purchase.stripe_checkout_session_id
        if session_id not in session_ids:
            found.append(
                call_stripe(
                    "retrieve session", lambda s=session_id: client.v1.checkout.sessions.retrieve(s)
                )
            )
            session_ids.add(session_id)
    return found


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else value.id
