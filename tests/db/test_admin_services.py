"""The admin services without HTTP: the purchase listing's pages and a review's note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app import ledger
from app.db import write_transaction
from app.domain.purchases import PurchaseFilter, admin_purchases, set_status
from app.errors import ValidationFailed
from app.extensions import db
from app.ledger import Posting, sales_account, user_account
from app.models import AuditLog, LedgerTransaction, PurchaseStatus
from app.payments.fulfilment import credit_purchase
from app.payments.review import resolve_review
from tests.helpers.builders import make_purchase, make_user


def test_the_cursor_continues_the_listing_where_the_page_ended(ctx):
    user = make_user()
    made = [make_purchase(user, code).id for code in ("starter", "pro", "enterprise")]
    first = admin_purchases(PurchaseFilter(), 2, None)
    assert [p.id for p in first.items] == made[::-1][:2]
    assert first.next_cursor
    second = admin_purchases(PurchaseFilter(), 2, first.next_cursor)
    assert [p.id for p in second.items] == made[:1]
    assert second.next_cursor is None


@pytest.mark.parametrize("note", [None, "", "   "])
def test_a_review_is_not_resolved_without_a_note(ctx, note):
    admin = make_user("admin@example.com", admin=True)
    purchase = make_purchase(make_user(), status=PurchaseStatus.NEEDS_REVIEW)
    with pytest.raises(ValidationFailed, match="^a note explaining the resolution is required$"):
        resolve_review(purchase, admin, "fail", note)
    assert purchase.status == PurchaseStatus.NEEDS_REVIEW


def test_failing_a_review_leaves_the_status_change_and_the_resolution_in_the_audit(ctx):
    admin = make_user("admin@example.com", admin=True)
    purchase = make_purchase(make_user(), status=PurchaseStatus.NEEDS_REVIEW)
    resolve_review(purchase, admin, "fail", "  paid in euros, refunded by hand ")
    assert purchase.status == PurchaseStatus.FAILED
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.subject_id == purchase.public_id).order_by(AuditLog.id)
    ).all()
    by_action = {row.action: row for row in rows}
    resolved = by_action["review.resolved"]
    assert (resolved.actor, resolved.subject_type) == (f"user:{admin.id}", "purchase")
    assert resolved.before == {"status": "needs_review"}
    assert resolved.after == {"status": "failed", "action": "fail"}
    assert resolved.note == "paid in euros, refunded by hand"
    (change,) = [row for row in rows if row.action != "review.resolved"]
    assert change.actor == f"user:{admin.id}"
    assert change.after["status"] == "failed"
    assert change.note == "  paid in euros, refunded by hand "


def credited_under_review(user, code: str = "pro", taken: int = 0):
    """A purchase we credited (less `taken` credits already taken back) that reconcile
    found unpaid at Stripe."""
    purchase = make_purchase(user, code)
    with write_transaction():
        credit_purchase(purchase, "test")
        if taken:
            ledger.post(
                f"purchase:{purchase.public_id}:take_back:1",
                "take_back",
                [
                    Posting(user_account(user.id), -taken),
                    Posting(sales_account(purchase.id), taken),
                ],
                purchase_id=purchase.id,
            )
        set_status(purchase, PurchaseStatus.NEEDS_REVIEW, "reconcile")
    return purchase


def take_backs(purchase) -> list[LedgerTransaction]:
    return db.session.scalars(
        select(LedgerTransaction)
        .where(LedgerTransaction.purchase_id == purchase.id)
        .where(LedgerTransaction.kind == "take_back")
        .order_by(LedgerTransaction.id)
    ).all()


def status_notes(purchase) -> list[tuple[str, str, str | None]]:
    rows = db.session.scalars(
        select(AuditLog)
        .where(AuditLog.subject_id == purchase.public_id)
        .where(AuditLog.action == "purchase.status_changed")
        .order_by(AuditLog.id)
    ).all()
    return [(row.actor, row.after["status"], row.note) for row in rows]


@pytest.mark.parametrize(("taken", "posted"), [(0, 1000), (300, 700), (999, 1), (1000, None)])
def test_taking_back_a_review_takes_what_is_left_once(ctx, taken, posted):
    admin = make_user("admin@example.com", admin=True)
    buyer = make_user()
    purchase = credited_under_review(buyer, taken=taken)
    resolve_review(purchase, admin, "take_back", "never paid")
    assert purchase.status == PurchaseStatus.FAILED
    assert ledger.balance(buyer.id) == 0
    review = [t for t in take_backs(purchase) if t.idempotency_key.endswith(":review_take_back")]
    if posted is None:
        assert review == [], "nothing is left to take back"
    else:
        (txn,) = review
        assert sorted(e.amount for e in txn.entries) == [-posted, posted]
        assert txn.description == "Pro Pack: not paid at Stripe"
        assert txn.actor == f"user:{admin.id}"
    assert status_notes(purchase)[-1] == (f"user:{admin.id}", "failed", "never paid")
    assert ledger.verify() == []


@pytest.mark.parametrize(
    ("action", "credited", "status"),
    [("credit", False, "completed"), ("fail", False, "failed"), ("confirm", True, "completed")],
)
def test_each_resolution_audits_the_admin_and_the_note(ctx, action, credited, status):
    admin = make_user("admin@example.com", admin=True)
    buyer = make_user()
    if credited:
        purchase = credited_under_review(buyer)
    else:
        purchase = make_purchase(buyer, status=PurchaseStatus.NEEDS_REVIEW)
    resolve_review(purchase, admin, action, "checked by hand")
    assert str(purchase.status) == status
    assert status_notes(purchase)[-1] == (f"user:{admin.id}", status, "checked by hand")


def test_a_resolution_names_what_is_allowed(ctx):
    admin = make_user("admin@example.com", admin=True)
    waiting = make_purchase(make_user(), status=PurchaseStatus.NEEDS_REVIEW)
    with pytest.raises(ValidationFailed) as raised:
        resolve_review(waiting, admin, "confirm", "a note")
    assert str(raised.value) == "action must be one of: credit, fail"
    pending = make_purchase(make_user("other@example.com"))
    with pytest.raises(ValidationFailed) as raised:
        resolve_review(pending, admin, "fail", "a note")
    assert str(raised.value) == "only a purchase that needs review can be resolved"


def test_the_filters_take_an_email_literally_and_include_both_ends(ctx):
    literal = make_purchase(make_user("a_b@example.com"))
    wildcard = make_purchase(make_user("axb@example.com"))
    moments = {literal.id: datetime(2024, 5, 1, tzinfo=UTC)}
    moments[wildcard.id] = datetime(2024, 5, 2, 23, 59, 59, 999999, tzinfo=UTC)
    for purchase in (literal, wildcard):
        purchase.created_at = moments[purchase.id]
    db.session.commit()

    def listed(**args) -> set[int]:
        page = admin_purchases(PurchaseFilter.from_args(args), 10, None)
        return {p.id for p in page.items}

    assert listed(email="A_B") == {literal.id}, "an underscore is no wildcard"
    assert listed(email="%") == set()
    assert listed(created_from="2024-05-01", created_to="2024-05-02") == set(moments)
    assert listed(created_from="2024-05-01T00:00:00Z", created_to="2024-05-01") == {literal.id}
    assert listed(created_from="2024-05-02") == {wildcard.id}
