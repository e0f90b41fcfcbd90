"""The admin timeline names people by their email and outcomes in words."""

from __future__ import annotations

from app.db import write_transaction
from app.domain.purchases import lock_purchase, set_status
from app.domain.timeline import purchase_timeline
from app.models import PurchaseStatus
from tests.helpers.builders import make_purchase, make_user


def test_a_user_actor_is_shown_by_email_and_the_system_as_itself(ctx):
    buyer = make_user("named@example.com")
    purchase = make_purchase(buyer)
    with write_transaction():
        set_status(lock_purchase(purchase.id), PurchaseStatus.CANCELED, f"user:{buyer.id}")
    audits = [item for item in purchase_timeline(purchase) if item["source"] == "audit"]
    assert audits and audits[-1]["actor"] == f"user:{buyer.id}"
    assert audits[-1]["actor_name"] == "named@example.com"
