"""Refunds and disputes take credits back exactly ceil(C x R / A); failures and wins restore."""

from __future__ import annotations

import random

import pytest

from app import ledger
from app.extensions import db
from app.models import Purchase
from app.payments.takebacks import refund_target, taken_back
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object


class Buyer:
    """A user with one paid purchase, Stripe faked, and helpers to send money events."""

    def __init__(self, client, fake, code: str = "pro") -> None:
        self.client, self.fake = client, fake
        self.user = make_user()
        purchase = make_purchase(self.user, code)
        self.intent = fake.add_charge(purchase.amount_cents)
        session = session_object(purchase, payment_intent=self.intent)
        assert (
            deliver(client, event_for(session, "checkout.session.completed")).json["outcome"]
            == "credited"
        )
        self.purchase_id = purchase.id
        self.charge = fake.charge_for(self.intent)

    @property
    def purchase(self) -> Purchase:
        db.session.expire_all()
        return db.session.get(Purchase, self.purchase_id)

    @property
    def balance(self) -> int:
        return ledger.balance(self.user.id)

    def refunded_event(self):
        return event_for(dict(self.charge), "charge.refunded")

    def send(self, event) -> str:
        response = deliver(self.client, event)
        assert response.status_code == 200, response.json
        return response.json["outcome"]


@pytest.fixture
def buyer(ctx, client, stripe_fake):
    return Buyer(client, stripe_fake)


def test_refund_target_is_a_ceiling():
    assert refund_target(1000, 8500, 0) == 0
    assert refund_target(1000, 8500, 1) == 1
    assert refund_target(1000, 8500, 4250) == 500
    assert refund_target(1000, 8500, 4251) == 501
    assert refund_target(1000, 8500, 8500) == 1000
    assert refund_target(1000, 8500, 9999) == 1000
    assert refund_target(100, 1000, -5) == 0


def test_partial_refund_takes_back_only_the_refunded_part(buyer):
    buyer.fake.refund(buyer.intent, 1000)
    assert buyer.send(buyer.refunded_event()) == "taken_back:118"  # ceil(1000 * 1000 / 8500)
    assert buyer.balance == 882
    assert buyer.purchase.status == "partially_refunded"
    assert buyer.purchase.refunded_cents == 1000
    buyer.fake.refund(buyer.intent, 3000)
    assert buyer.send(buyer.refunded_event()) == "taken_back:353"  # ceil(4000000 / 8500) = 471
    assert buyer.balance == 1000 - 471
    assert ledger.verify() == []


def test_full_refund_takes_back_everything(buyer):
    buyer.fake.refund(buyer.intent, 8500)
    buyer.send(buyer.refunded_event())
    assert buyer.balance == 0
    assert buyer.purchase.status == "refunded"
    assert taken_back(buyer.purchase) == 1000


def test_repeated_duplicated_and_reordered_refund_events_converge(buyer):
    events = []
    for amount in (500, 1700, 300, 2000):
        buyer.fake.refund(buyer.intent, amount)
        events.append(buyer.refunded_event())  # each snapshot is older than Stripe's truth
        events.append(
            event_for(buyer.fake.objects[list(buyer.fake.objects)[-1]], "charge.refund.updated")
        )
    rng = random.Random(7)
    deliveries = events * 3
    rng.shuffle(deliveries)
    for event in deliveries:
        buyer.send(event)
    assert taken_back(buyer.purchase) == refund_target(1000, 8500, 4500) == 530
    assert buyer.balance == 470
    assert ledger.verify() == []


def test_a_failed_refund_gives_its_credits_back(buyer):
    refund = buyer.fake.refund(buyer.intent, 8500)
    buyer.send(buyer.refunded_event())
    assert buyer.balance == 0
    buyer.fake.fail_refund(refund["id"])
    assert buyer.send(event_for(dict(refund), "charge.refund.updated")) == "restored:1000"
    assert buyer.balance == 1000
    assert buyer.purchase.status == "completed"
    assert ledger.verify() == []


def test_dispute_takes_back_then_won_restores(buyer):
    dispute = buyer.fake.dispute(buyer.intent)
    assert buyer.send(event_for(dict(dispute), "charge.dispute.created")) == "taken_back:1000"
    assert buyer.purchase.status == "disputed" and buyer.balance == 0
    dispute["status"] = "won"
    assert buyer.send(event_for(dict(dispute), "charge.dispute.closed")) == "restored:1000"
    assert buyer.purchase.status == "completed" and buyer.balance == 1000
    assert ledger.verify() == []


def test_dispute_lost_leaves_the_credits_taken(buyer):
    dispute = buyer.fake.dispute(buyer.intent)
    buyer.send(event_for(dict(dispute), "charge.dispute.created"))
    dispute["status"] = "lost"
    assert buyer.send(event_for(dict(dispute), "charge.dispute.closed")) == "no_change"
    assert buyer.purchase.status == "disputed" and buyer.balance == 0


def test_dispute_closed_before_created_arrives_still_converges(buyer):
    dispute = buyer.fake.dispute(buyer.intent)
    created = event_for(dict(dispute), "charge.dispute.created")
    dispute["status"] = "won"
    closed = event_for(dict(dispute), "charge.dispute.closed")
    buyer.send(closed)
    buyer.send(created)  # stale: Stripe says the dispute is won
    assert buyer.balance == 1000 and buyer.purchase.status == "completed"


def test_dispute_after_a_partial_refund_takes_back_only_the_rest(buyer):
    buyer.fake.refund(buyer.intent, 4250)
    buyer.send(buyer.refunded_event())
    assert buyer.balance == 500
    dispute = buyer.fake.dispute(buyer.intent)
    assert dispute["amount"] == 4250
    assert buyer.send(event_for(dict(dispute), "charge.dispute.created")) == "taken_back:500"
    assert buyer.balance == 0
    dispute["status"] = "won"
    buyer.send(event_for(dict(dispute), "charge.dispute.closed"))
    assert buyer.balance == 500 and buyer.purchase.status == "partially_refunded"
    assert ledger.verify() == []


def test_take_back_after_spending_leaves_a_debt_that_the_next_purchase_fills(
    buyer, client, stripe_fake
):
    from app.domain.spending import spend

    spend(buyer.user, 900, "used", "work")
    buyer.fake.refund(buyer.intent, 8500)
    buyer.send(buyer.refunded_event())
    assert buyer.balance == -900
    second = make_purchase(buyer.user, "starter")
    deliver(client, event_for(session_object(second), "checkout.session.completed"))
    assert buyer.balance == -800
    assert ledger.verify() == []


def test_refund_for_an_unknown_charge_is_acknowledged(ctx, client, stripe_fake):
    intent = stripe_fake.add_charge(500)
    charge = stripe_fake.charge_for(intent)
    assert (
        deliver(client, event_for(dict(charge), "charge.refunded")).json["outcome"]
        == "unknown_charge"
    )


def test_stripe_down_while_handling_a_refund_is_retried(buyer):
    buyer.fake.refund(buyer.intent, 8500)
    event = buyer.refunded_event()
    buyer.fake.fail_next["retrieve"] = 1
    response = deliver(buyer.client, event)
    assert response.status_code == 502
    assert buyer.balance == 1000
    assert buyer.send(event) == "taken_back:1000"


def test_debt_is_shown_on_the_buy_page(buyer, client, auth):
    buyer.fake.refund(buyer.intent, 8500)
    from app.domain.spending import spend

    spend(buyer.user, 1000, "all", "")
    buyer.send(buyer.refunded_event())
    auth.login()
    html = client.get("/credits/purchase").get_data(as_text=True)
    assert "You owe 1,000 credits" in html
