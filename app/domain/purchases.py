"""Purchases: the one home of a purchase, its lookups, status changes and listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app import ledger
from app.db import Page, paginate, run
from app.domain import audit
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.extensions import db
from app.models import PAID_STATUSES, Purchase, PurchaseStatus, User, utcnow

_purchases = Purchase.__table__
_UPDATE = update(_purchases).where(_purchases.c.id == bindparam("purchase_id"))


def lock_purchase(purchase_id: int) -> Purchase:
    """Read a purchase afresh with its row locked until commit (in a write transaction)."""
    return db.session.get(Purchase, purchase_id, with_for_update=True, populate_existing=True)


def update_purchase(purchase: Purchase, **values: Any) -> None:
    """Write columns of a loaded purchase with one UPDATE in the current transaction, and
    keep the loaded object in step (nothing is left for the ORM to flush)."""
    values.setdefault("updated_at", utcnow())
    run(_UPDATE, {"purchase_id": purchase.id, **values})
    for name, value in values.items():
        set_committed_value(purchase, name, value)


_P = PurchaseStatus
_MONEY_STATES = frozenset(PAID_STATUSES)
# Every status change a purchase may make. Nothing goes back to pending or processing; an
# unpaid end still completes when a late payment arrives (money was taken); after completion
# the status follows the money; needs_review holds a purchase until an admin resolves it.
TRANSITIONS: dict[PurchaseStatus, frozenset[PurchaseStatus]] = {
    _P.PENDING: frozenset(
        {_P.PROCESSING, _P.COMPLETED, _P.FAILED, _P.EXPIRED, _P.CANCELED, _P.NEEDS_REVIEW}
    ),
    _P.PROCESSING: frozenset({_P.COMPLETED, _P.FAILED, _P.NEEDS_REVIEW}),
    **{
        unpaid: frozenset({_P.COMPLETED, _P.NEEDS_REVIEW})
        for unpaid in (_P.FAILED, _P.EXPIRED, _P.CANCELED)
    },
    **{paid: (_MONEY_STATES - {paid}) | {_P.NEEDS_REVIEW} for paid in _MONEY_STATES},
    _P.NEEDS_REVIEW: _MONEY_STATES | {_P.FAILED},
}


def can_transition(old: PurchaseStatus, new: PurchaseStatus) -> bool:
    """Tell whether the state machine lets a purchase go from old to new."""
    return new in TRANSITIONS[PurchaseStatus(old)]


def set_status(
    purchase: Purchase,
    new: PurchaseStatus,
    actor: str,
    note: str | None = None,
    **columns: Any,
) -> bool:
    """Change a purchase's status (and any other columns given) in the current transaction,
    audited; True if the status changed. A change TRANSITIONS does not allow raises
    IllegalTransition and writes nothing."""
    old = purchase.status
    if old == new:
        if columns:
            update_purchase(purchase, **columns)
        return False
    if not can_transition(old, new):
        raise IllegalTransition(f"a {old} purchase cannot become {new}")
    if new == PurchaseStatus.COMPLETED and purchase.completed_at is None:
        columns["completed_at"] = utcnow()
    update_purchase(purchase, status=new, **columns)
    audit.record(
        actor,
        "purchase.status_changed",
        "purchase",
        purchase.public_id,
        before={"status": str(old)},
        after={"status": str(new)},
        note=note,
    )
    return True


def find_purchase(public_id: object) -> Purchase:
    """Return any purchase by its public id, or raise NotFound."""
    purchase = None
    if isinstance(public_id, str):
        purchase = db.session.scalar(select(Purchase).where(Purchase.public_id == public_id))
    if purchase is None:
        raise NotFound("no such purchase")
    return purchase


def owned_purchase_with_balance(user: User, public_id: object) -> tuple[Purchase, int | None]:
    """Read the user's purchase with this id and their balance in one statement; anyone
    else's purchase is NotFound."""
    found = ledger.purchase_with_balance(public_id) if isinstance(public_id, str) else None
    if found is None or found[0].user_id != user.id:
        raise NotFound("no such purchase")
    return found


def owned_purchase(user: User, public_id: object) -> Purchase:
    """Return the user's purchase with this id; anyone else's is NotFound."""
    return owned_purchase_with_balance(user, public_id)[0]


def purchase_for_session(user: User, session_id: object) -> Purchase:
    """Return the user's purchase for a Checkout Session id; anyone else's is NotFound."""
    purchase = None
    if isinstance(session_id, str) and session_id:
        purchase = db.session.scalar(
            select(Purchase).where(Purchase.stripe_checkout_session_id == session_id)
        )
    if purchase is None or purchase.user_id != user.id:
        raise NotFound("no such purchase")
    return purchase


def purchase_public_ids(ids: set[int | None]) -> dict[int, str]:
    """Map internal purchase ids to their public ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Purchase.id, Purchase.public_id).where(Purchase.id.in_(wanted))
    )
    return {row_id: public_id for row_id, public_id in rows}


def user_purchases(user: User, limit: int, cursor: str | None) -> Page:
    """Return one page of a user's purchases, newest first."""
    return paginate(select(Purchase).where(Purchase.user_id == user.id), Purchase.id, limit, cursor)


def _parse_when(raw: str, field: str, end: bool) -> datetime:
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day, time.max if end else time.min, UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} must be a date like 2026-03-01 or a time like 2026-03-01T14:05Z"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class PurchaseFilter:
    status: str | None = None
    email: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    @classmethod
    def from_args(cls, args) -> PurchaseFilter:
        """Validate the admin list's query parameters."""
        status = (args.get("status") or "").strip() or None
        if status is not None and status not in set(PurchaseStatus):
            raise ValidationFailed(f"status must be one of {', '.join(PurchaseStatus)}")
        created_from = args.get("created_from") or None
        created_to = args.get("created_to") or None
        return cls(
            status=status,
            email=(args.get("email") or "").strip().lower() or None,
            created_from=_parse_when(created_from, "created_from", False) if created_from else None,
            created_to=_parse_when(created_to, "created_to", True) if created_to else None,
        )

    def apply(self, query: Select) -> Select:
        """Narrow a purchase query to this filter."""
        if self.status:
            query = query.where(Purchase.status == self.status)
        if self.email:
            matching = select(User.id).where(User.email.contains(self.email, autoescape=True))
            query = query.where(Purchase.user_id.in_(matching))
        if self.created_from:
            query = query.where(Purchase.created_at >= self.created_from)
        if self.created_to:
            query = query.where(Purchase.created_at <= self.created_to)
        return query


def admin_purchases(filters: PurchaseFilter, limit: int, cursor: str | None) -> Page:
    """Return one page of every user's purchases matching the filter, newest first."""
    query = filters.apply(select(Purchase)).options(joinedload(Purchase.user))
    return paginate(query, Purchase.id, limit, cursor)
