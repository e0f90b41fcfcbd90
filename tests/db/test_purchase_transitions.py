"""The purchase state machine: set_status takes exactly the transitions in the table."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from app.db import write_transaction
from app.domain.purchases import TRANSITIONS, can_transition, lock_purchase, set_status
from app.errors import IllegalTransition
from app.extensions import db
from app.models import OPEN_STATUSES, PAID_STATUSES, AuditLog, Purchase, PurchaseStatus
from tests.helpers.builders import make_purchase, make_user

STATES = list(PurchaseStatus)
P = PurchaseStatus


def test_the_table_names_every_state():
    assert set(TRANSITIONS) == set(STATES)
    for old, targets in TRANSITIONS.items():
        assert old not in targets, f"{old} lists itself"
        assert targets <= set(STATES)


def test_nothing_goes_back_to_awaiting_payment():
    for old in STATES:
        assert not can_transition(old, P.PENDING)
        if old != P.PENDING:
            assert not can_transition(old, P.PROCESSING)


def test_the_lifecycle_the_design_names():
    assert can_transition(P.PENDING, P.PROCESSING)
    assert can_transition(P.PROCESSING, P.COMPLETED)
    assert can_transition(P.PENDING, P.CANCELED)
    for unpaid in (P.FAILED, P.EXPIRED, P.CANCELED):
        assert can_transition(unpaid, P.COMPLETED), "a late payment still credits"
        assert not can_transition(unpaid, P.REFUNDED)
    for paid in PAID_STATUSES:
        assert not can_transition(paid, P.FAILED), "a paid purchase follows the money"
        assert can_transition(paid, P.NEEDS_REVIEW)
    assert not can_transition(P.COMPLETED, P.EXPIRED)
    assert not can_transition(P.PROCESSING, P.CANCELED)
    assert can_transition(P.NEEDS_REVIEW, P.FAILED)
    assert can_transition(P.DISPUTED, P.COMPLETED), "a won dispute goes back to the refunds"


def _status_changes(purchase: Purchase) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.subject_id == purchase.public_id, AuditLog.action.like("purchase.%"))
    )


@pytest.mark.parametrize(("old", "new"), list(itertools.product(STATES, STATES)))
def test_set_status_takes_exactly_the_table(ctx, old: PurchaseStatus, new: PurchaseStatus):
    purchase = make_purchase(make_user(), status=old)
    allowed = old == new or can_transition(old, new)
    try:
        with write_transaction():
            changed = set_status(lock_purchase(purchase.id), new, "test", refunded_cents=1)
    except IllegalTransition:
        assert not allowed, f"{old} -> {new} is in the table but was refused"
        db.session.expire_all()
        row = db.session.get(Purchase, purchase.id)
        assert (row.status, row.refunded_cents, row.completed_at) == (old, 0, None)
        assert _status_changes(purchase) == 0, "a refused change wrote an audit record"
        return
    assert allowed, f"{old} -> {new} is not in the table but was taken"
    assert changed == (old != new)
    db.session.expire_all()
    row = db.session.get(Purchase, purchase.id)
    assert row.status == new and row.refunded_cents == 1
    assert _status_changes(purchase) == (1 if old != new else 0)
    if new == P.COMPLETED and old in OPEN_STATUSES:
        assert row.completed_at is not None
