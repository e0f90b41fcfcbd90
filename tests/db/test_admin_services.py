"""The admin services without HTTP: the purchase listing's pages and a review's note."""

from __future__ import annotations

import pytest

from app.domain.purchases import PurchaseFilter, admin_purchases
from app.errors import ValidationFailed
from app.models import PurchaseStatus
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
