"""Property test: refunds, failed refunds, disputes and spends in any order keep totals exact."""

from __future__ import annotations

import responses
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ledger
from app.domain.spending import spend
from app.errors import InsufficientCredits
from app.extensions import db
from app.models import Purchase
from app.payments.takebacks import DISPUTE_HOLDS, refund_target, taken_back
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object
from tests.helpers.stripe_fake import FakeStripe

step = st.one_of(
    st.tuples(st.just("refund"), st.integers(min_value=1, max_value=9000)),
    st.tuples(st.just("fail_refund"), st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("dispute"), st.sampled_from(["needs_response", "under_review"])),
    st.tuples(st.just("close"), st.sampled_from(["won", "lost"])),
    st.tuples(st.just("spend"), st.integers(min_value=1, max_value=600)),
    st.tuples(st.just("replay"), st.integers(min_value=0, max_value=20)),
)


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_any_money_history_keeps_take_backs_exact(app: Flask, steps) -> None:
    with app.app_context(), responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        db.drop_all()
        db.create_all()
        from app.domain.packs import seed_packages

        seed_packages()
        fake = FakeStripe(mock)
        client = app.test_client()
        user = make_user()
        purchase = make_purchase(user)
        intent = fake.add_charge(purchase.amount_cents)
        deliver(
            client,
            event_for(
                session_object(purchase, payment_intent=intent), "checkout.session.completed"
            ),
        )
        charge = fake.charge_for(intent)
        refunds: list[dict] = []
        dispute: dict | None = None
        sent: list[dict] = []
        spent = 0

        for n, (kind, value) in enumerate(steps):
            event = None
            if kind == "refund":
                left = charge["amount"] - charge["amount_refunded"]
                if left:
                    refund = fake.refund(intent, min(value, left))
                    refunds.append(refund)
                    event = event_for(dict(charge), "charge.refunded")
            elif kind == "fail_refund" and refunds:
                refund = refunds[value % len(refunds)]
                if refund["status"] == "succeeded":
                    fake.fail_refund(refund["id"])
                    event = event_for(dict(refund), "charge.refund.updated")
            elif kind == "dispute" and dispute is None:
                dispute = fake.dispute(intent, value)
                event = event_for(dict(dispute), "charge.dispute.created")
            elif (
                kind == "close"
                and dispute is not None
                and dispute["status"] in DISPUTE_HOLDS - {"lost"}
            ):
                dispute["status"] = value
                event = event_for(dict(dispute), "charge.dispute.closed")
            elif kind == "spend":
                try:
                    spend(user, value, f"spend-{n}", "")
                    spent += value
                except InsufficientCredits:
                    assert ledger.balance(user.id) < value
            elif kind == "replay" and sent:
                event = sent[value % len(sent)]
            if event is not None:
                assert deliver(client, event).status_code == 200
                sent.append(event)

            db.session.expire_all()
            row = db.session.get(Purchase, purchase.id)
            holds = dispute is not None and dispute["status"] in DISPUTE_HOLDS
            expected = 1000 if holds else refund_target(1000, 8500, charge["amount_refunded"])
            assert taken_back(row) == expected
            assert ledger.balance(user.id) == 1000 - expected - spent
            assert ledger.verify() == []
