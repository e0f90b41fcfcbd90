"""Every scenario through the test helpers, with the states Stripe gives the objects."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_sandbox import Sandbox
from tests.helpers.sandbox_sdk import AppFactory, client_for, helper, make_session, make_shop, pay
from tests.helpers.webhook_receivers import Recorder


@pytest.fixture
def session(stripe_client: stripe.StripeClient) -> Any:
    """Return an open session for a 10.00 USD pack."""
    return make_session(stripe_client, make_shop(stripe_client))


def expanded(client: stripe.StripeClient, session_id: str) -> Any:
    """Return the session with its PaymentIntent and latest charge expanded."""
    return client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["payment_intent.latest_charge"]}
    )


def events(client: stripe.StripeClient) -> list[Any]:
    """Return all recorded events, oldest first."""
    return list(reversed(client.v1.events.list(params={"limit": 100}).data))


def paid_charge(client: stripe.StripeClient, session_id: str) -> Any:
    """Pay a session by card and return its charge."""
    pay(client, session_id, card="4242424242424242")
    return expanded(client, session_id).payment_intent.latest_charge


def test_pay_by_card(stripe_client: stripe.StripeClient, session: Any) -> None:
    result = pay(stripe_client, session.id, card="4242 4242 4242 4242", email="bo@example.com")
    assert (result.object, result.status, result.payment_status) == (
        "checkout.session",
        "complete",
        "paid",
    )
    [event] = events(stripe_client)
    assert event.type == "checkout.session.completed"
    assert event.data.object.payment_status == "paid"
    assert event.data.object.customer_details.email == "bo@example.com"
    assert event.request.id.startswith("req_")
    pi = expanded(stripe_client, session.id).payment_intent
    assert pi.metadata.to_dict() == {"purchase_id": "purchase_1"}
    assert pi.latest_charge.metadata.to_dict() == {"purchase_id": "purchase_1"}
    assert pi.latest_charge.billing_details.email == "bo@example.com"


def test_zero_amount_needs_no_payment(stripe_client: stripe.StripeClient) -> None:
    free = make_session(stripe_client, make_shop(stripe_client, amount=0, key="free"))
    result = pay(stripe_client, free.id, card="4242424242424242")
    assert (result.status, result.payment_status, result.payment_intent) == (
        "complete",
        "no_payment_required",
        None,
    )


@pytest.mark.parametrize(
    ("card", "decline_code", "message"),
    [
        ("4000000000000002", "generic_decline", "Your card was declined."),
        ("4000000000009995", "insufficient_funds", "Your card has insufficient funds."),
        ("4111111111111111", "test_mode_live_card", "used a non test card"),
    ],
)
def test_declined_cards(
    stripe_client: stripe.StripeClient, session: Any, card: str, decline_code: str, message: str
) -> None:
    with pytest.raises(stripe.CardError) as exc:
        pay(stripe_client, session.id, card=card)
    assert exc.value.http_status == 402
    assert message in exc.value.user_message
    body = exc.value.json_body["error"]
    assert (body["type"], body["code"], body["decline_code"]) == (
        "card_error",
        "card_declined",
        decline_code,
    )
    assert body["payment_intent"]["status"] == "requires_payment_method"
    state = expanded(stripe_client, session.id)
    assert (state.status, state.payment_status) == ("open", "unpaid")
    assert state.payment_intent.latest_charge.id == body["charge"]
    assert state.payment_intent.latest_charge.failure_code == "card_declined"
    assert events(stripe_client) == []


def test_three_d_secure_through_the_helper(stripe_client: stripe.StripeClient) -> None:
    shop = make_shop(stripe_client)
    waiting = make_session(stripe_client, shop)
    result = pay(stripe_client, waiting.id, card="4000002500003155")
    assert result.status == "open"
    pi = expanded(stripe_client, waiting.id).payment_intent
    assert pi.status == "requires_action"
    assert pi.next_action.type == "use_stripe_sdk"

    completed = make_session(stripe_client, shop)
    result = pay(stripe_client, completed.id, card="4000002500003155", three_d_secure="complete")
    assert (result.status, result.payment_status) == ("complete", "paid")
    pi = expanded(stripe_client, completed.id).payment_intent
    assert pi.status == "succeeded"
    assert pi.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"

    failed = make_session(stripe_client, shop)
    with pytest.raises(stripe.CardError) as exc:
        pay(stripe_client, failed.id, card="4000002500003155", three_d_secure="fail")
    assert exc.value.code == "payment_intent_authentication_failure"
    state = expanded(stripe_client, failed.id)
    assert state.status == "open"
    assert state.payment_intent.status == "requires_payment_method"


@pytest.mark.parametrize(
    ("outcome", "pi_status", "charge_status", "payment_status", "event"),
    [
        ("succeeded", "succeeded", "succeeded", "paid", "async_payment_succeeded"),
        ("failed", "requires_payment_method", "failed", "unpaid", "async_payment_failed"),
    ],
)
def test_bank_transfer_settled_by_helper(
    stripe_client: stripe.StripeClient,
    session: Any,
    outcome: str,
    pi_status: str,
    charge_status: str,
    payment_status: str,
    event: str,
) -> None:
    started = pay(stripe_client, session.id, payment_method="bank_transfer", outcome=outcome)
    assert (started.status, started.payment_status) == ("complete", "unpaid")
    pi = expanded(stripe_client, session.id).payment_intent
    assert (pi.status, pi.latest_charge.status, pi.latest_charge.paid) == (
        "processing",
        "pending",
        False,
    )
    assert pi.latest_charge.payment_method_details.type == "us_bank_account"
    with pytest.raises(stripe.InvalidRequestError):  # not refundable until it succeeds
        stripe_client.v1.refunds.create(params={"charge": pi.latest_charge.id})

    settled = helper(stripe_client, f"/v1/test_helpers/bank_transfers/{pi.id}/settle")
    assert (settled.object, settled.status) == ("payment_intent", pi_status)
    state = expanded(stripe_client, session.id)
    assert (state.status, state.payment_status) == ("complete", payment_status)
    assert state.payment_intent.latest_charge.status == charge_status
    assert [e.type for e in events(stripe_client)] == [
        "checkout.session.completed",
        f"checkout.session.{event}",
    ]
    with pytest.raises(stripe.InvalidRequestError):
        helper(stripe_client, f"/v1/test_helpers/bank_transfers/{pi.id}/settle")


def test_settle_outcome_can_be_overridden(stripe_client: stripe.StripeClient, session: Any) -> None:
    pay(stripe_client, session.id, payment_method="bank_transfer", outcome="succeeded")
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    settled = helper(
        stripe_client, f"/v1/test_helpers/bank_transfers/{pi_id}/settle", outcome="failed"
    )
    assert settled.status == "requires_payment_method"
    assert settled.last_payment_error.code == "insufficient_funds"


def test_clock_advance_expires_sessions_and_cancels_attempts(
    stripe_client: stripe.StripeClient, sandbox: Sandbox, recorder: Recorder
) -> None:
    shop = make_shop(stripe_client)
    untouched = make_session(stripe_client, shop)
    attempted = make_session(stripe_client, shop)
    with pytest.raises(stripe.CardError):
        pay(stripe_client, attempted.id, card="4000000000000002")
    soon = make_session(stripe_client, shop, expires_at=untouched.created + 3600)

    clock = helper(stripe_client, "/v1/test_helpers/clock/advance", seconds=3600)
    assert clock.offset == 3600
    assert stripe_client.v1.checkout.sessions.retrieve(soon.id).status == "expired"
    assert stripe_client.v1.checkout.sessions.retrieve(untouched.id).status == "open"

    helper(stripe_client, "/v1/test_helpers/clock/advance", seconds=23 * 3600)
    assert stripe_client.v1.checkout.sessions.retrieve(untouched.id).status == "expired"
    gone = expanded(stripe_client, attempted.id)
    assert gone.status == "expired"
    assert (gone.payment_intent.status, gone.payment_intent.cancellation_reason) == (
        "canceled",
        "abandoned",
    )
    expired = [e for e in events(stripe_client) if e.type == "checkout.session.expired"]
    assert [e.data.object.id for e in expired] == [soon.id, untouched.id, attempted.id]
    assert all(e.created <= clock.now - 3600 + 5 for e in expired)  # real time, not sandbox time
    assert sandbox.flush() == 3
    for _, headers, body in recorder.calls:
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_test_current")
    with pytest.raises(stripe.InvalidRequestError):
        pay(stripe_client, untouched.id, card="4242424242424242")


def test_clock_is_persisted(make_sandbox: AppFactory) -> None:
    first = make_sandbox()
    first.extensions["stripe_sandbox"].advance_clock(600)
    first.extensions["stripe_sandbox"].close()
    restarted: Sandbox = make_sandbox().extensions["stripe_sandbox"]
    with restarted.store.read() as tx:
        assert tx.clock_offset() == 600
    with pytest.raises(ValueError):
        restarted.advance_clock(-1)


def test_dispute_opened_and_won(stripe_client: stripe.StripeClient, session: Any) -> None:
    charge = paid_charge(stripe_client, session.id)
    stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 250})
    dispute = helper(stripe_client, f"/v1/test_helpers/charges/{charge.id}/dispute")
    assert dispute.id.startswith("dp_")
    assert (dispute.status, dispute.amount, dispute.charge) == ("needs_response", 750, charge.id)
    assert dispute.payment_intent == charge.payment_intent
    assert stripe_client.v1.charges.retrieve(charge.id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert exc.value.code == "charge_disputed"
    with pytest.raises(stripe.InvalidRequestError):
        helper(stripe_client, f"/v1/test_helpers/charges/{charge.id}/dispute")

    won = helper(stripe_client, f"/v1/test_helpers/disputes/{dispute.id}/close", outcome="won")
    assert won.status == "won"
    assert stripe_client.v1.disputes.retrieve(dispute.id).status == "won"
    assert stripe_client.v1.charges.retrieve(charge.id).disputed is True
    closed = events(stripe_client)[-1]
    assert closed.type == "charge.dispute.closed"
    assert closed.data.object.status == "won"
    assert closed.data.previous_attributes.status == "needs_response"
    assert [e.type for e in events(stripe_client)][-2] == "charge.dispute.created"
    stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 100})  # allowed again
    with pytest.raises(stripe.InvalidRequestError):
        helper(stripe_client, f"/v1/test_helpers/disputes/{dispute.id}/close", outcome="lost")


def test_dispute_lost(stripe_client: stripe.StripeClient, session: Any) -> None:
    charge = paid_charge(stripe_client, session.id)
    dispute = helper(
        stripe_client,
        f"/v1/test_helpers/charges/{charge.id}/dispute",
        reason="product_not_received",
    )
    assert (dispute.amount, dispute.reason) == (1000, "product_not_received")
    lost = helper(stripe_client, f"/v1/test_helpers/disputes/{dispute.id}/close", outcome="lost")
    assert lost.status == "lost"
    assert events(stripe_client)[-1].data.object.status == "lost"
    listed = stripe_client.v1.disputes.list(params={"charge": charge.id})
    assert [d.id for d in listed.data] == [dispute.id]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert exc.value.code == "charge_disputed"


def test_fully_refunded_charge_cannot_be_disputed(
    stripe_client: stripe.StripeClient, session: Any
) -> None:
    charge = paid_charge(stripe_client, session.id)
    stripe_client.v1.refunds.create(params={"charge": charge.id})
    with pytest.raises(stripe.InvalidRequestError):
        helper(stripe_client, f"/v1/test_helpers/charges/{charge.id}/dispute")


def test_refund_made_to_fail(stripe_client: stripe.StripeClient, session: Any) -> None:
    charge = paid_charge(stripe_client, session.id)
    first = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 400})
    second = stripe_client.v1.refunds.create(params={"charge": charge.id})
    full = stripe_client.v1.charges.retrieve(charge.id)
    assert (full.amount_refunded, full.refunded) == (1000, True)
    refunded_events = [e for e in events(stripe_client) if e.type == "charge.refunded"]
    assert [e.data.object.amount_refunded for e in refunded_events] == [400, 1000]
    assert [e.data.object.refunded for e in refunded_events] == [False, True]
    assert refunded_events[1].data.previous_attributes.to_dict() == {
        "amount_refunded": 400,
        "refunded": False,
    }

    failed = helper(stripe_client, f"/v1/test_helpers/refunds/{second.id}/fail")
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert failed.failure_balance_transaction.startswith("txn_")
    after = stripe_client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (400, False)
    update = events(stripe_client)[-1]
    assert update.type == "charge.refund.updated"
    assert (update.data.object.id, update.data.object.status) == (second.id, "failed")
    assert update.data.previous_attributes.status == "succeeded"
    assert stripe_client.v1.refunds.retrieve(first.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        helper(stripe_client, f"/v1/test_helpers/refunds/{second.id}/fail")
    again = stripe_client.v1.refunds.create(params={"charge": charge.id})  # the rest is refundable
    assert again.amount == 600


def test_helpers_return_objects_with_expand(stripe_client: stripe.StripeClient) -> None:
    session = make_session(stripe_client, make_shop(stripe_client))
    result = pay(stripe_client, session.id, card="4242424242424242", expand=["payment_intent"])
    assert result.payment_intent.status == "succeeded"


def test_helpers_need_an_api_key(make_sandbox: AppFactory) -> None:
    app = make_sandbox()
    response = app.test_client().post("/v1/test_helpers/clock/advance", data={"seconds": "1"})
    assert response.status_code == 401
    client = client_for(app)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        helper(client, "/v1/test_helpers/clock/advance")
    assert exc.value.code == "parameter_missing"


def test_customer_creation_always(stripe_client: stripe.StripeClient) -> None:
    session = make_session(stripe_client, make_shop(stripe_client), customer_creation="always")
    pay(stripe_client, session.id, card="4242424242424242", email="new@example.com")
    state = expanded(stripe_client, session.id)
    customer = stripe_client.v1.customers.retrieve(state.customer)
    assert customer.email == "new@example.com"
    assert state.payment_intent.customer == customer.id
    assert state.payment_intent.latest_charge.customer == customer.id
