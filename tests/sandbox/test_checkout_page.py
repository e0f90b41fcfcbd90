"""The hosted checkout web, driven with plain form posts (no JavaScript)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from stripe_sandbox import Sandbox
from tests.helpers.sandbox_sdk import AppFactory, client_for, make_session, make_shop

SUCCESS = "http://localhost/checkout/return?session_id="


@pytest.fixture
def session(stripe_client: stripe.StripeClient) -> Any:
    """Return an open session for a customer with an email."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    return make_session(stripe_client, make_shop(stripe_client, amount=8500), customer=customer.id)


def submit(web: Client, session_id: str, card: str = "", **form: str) -> Any:
    """Post the checkout form as a browser would."""
    data = {"email": "ada@example.com", "card_number": card, "method": "card", **form}
    return web.post(f"/stripe-sandbox/checkout/{session_id}", data=data)


def state(client: stripe.StripeClient, session_id: str) -> Any:
    """Return the session with its PaymentIntent and latest charge expanded."""
    return client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["payment_intent.latest_charge"]}
    )


def event_types(client: stripe.StripeClient) -> list[str]:
    """Return the types of all recorded events, oldest first."""
    return [e.type for e in reversed(client.v1.events.list(params={"limit": 100}).data)]


def test_page_shows_merchant_items_total_and_forms(web: Client, session: Any) -> None:
    response = web.get(f"/stripe-sandbox/checkout/{session.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Sandbox: payments are simulated" in html
    assert '<p class="merchant">Credits</p>' in html
    assert "Pro Pack" in html and "Qty 1" in html and "$85.00" in html
    assert 'value="ada@example.com"' in html  # prefilled from the customer
    assert '<label for="card_number">Card number</label>' in html
    assert '<button type="submit" name="method" value="card" class="primary">Pay</button>' in html
    assert ">Pay by bank transfer</button>" in html
    assert '<a class="back" href="http://localhost/checkout/cancel">Cancel</a>' in html
    assert '<form method="post" action="/stripe-sandbox/checkout/' in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert 'href="/stripe-sandbox/static/sandbox.css"' in html
    css = web.get("/stripe-sandbox/static/sandbox.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    css.close()


def test_card_success_redirects_to_success_url(
    web: Client, session: Any, stripe_client: stripe.StripeClient
) -> None:
    response = submit(web, session.id, "4242 4242 4242 4242")
    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS + session.id
    paid = state(stripe_client, session.id)
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.customer_details.email == "ada@example.com"
    assert paid.payment_intent.status == "succeeded"
    charge = paid.payment_intent.latest_charge
    assert (charge.status, charge.paid, charge.captured, charge.amount) == (
        "succeeded",
        True,
        True,
        8500,
    )
    assert charge.payment_method_details.card.last4 == "4242"
    assert event_types(stripe_client) == ["checkout.session.completed"]
    done = web.get(f"/stripe-sandbox/checkout/{session.id}").get_data(as_text=True)
    assert "Payment complete" in done and "Card number" not in done


@pytest.mark.parametrize(
    ("card", "message", "decline_code"),
    [
        ("4000 0000 0000 0002", "Your card was declined.", "generic_decline"),
        ("4000 0000 0000 9995", "Your card has insufficient funds.", "insufficient_funds"),
    ],
)
def test_declines_show_stripes_message_and_keep_the_session_open(
    web: Client,
    session: Any,
    stripe_client: stripe.StripeClient,
    card: str,
    message: str,
    decline_code: str,
) -> None:
    response = submit(web, session.id, card)
    assert response.status_code == 402
    assert message in response.get_data(as_text=True)
    declined = state(stripe_client, session.id)
    assert (declined.status, declined.payment_status) == ("open", "unpaid")
    pi = declined.payment_intent
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == decline_code
    assert (pi.latest_charge.status, pi.latest_charge.paid) == ("failed", False)
    assert pi.latest_charge.outcome.reason == decline_code
    assert event_types(stripe_client) == []

    retry = submit(web, session.id, "4242424242424242")  # a second try reuses the intent
    assert retry.status_code == 303
    assert state(stripe_client, session.id).payment_intent.id == pi.id


def test_three_d_secure_complete(
    web: Client, session: Any, stripe_client: stripe.StripeClient
) -> None:
    response = submit(web, session.id, "4000 0025 0000 3155")
    assert response.status_code == 303
    challenge_url = f"/stripe-sandbox/checkout/{session.id}/authenticate"
    assert response.headers["Location"] == challenge_url
    assert state(stripe_client, session.id).payment_intent.status == "requires_action"
    html = web.get(challenge_url).get_data(as_text=True)
    assert ">Complete</button>" in html and ">Fail</button>" in html and "3155" in html

    done = web.post(challenge_url, data={"action": "complete"})
    assert done.status_code == 303
    assert done.headers["Location"] == SUCCESS + session.id
    paid = state(stripe_client, session.id)
    assert (paid.payment_status, paid.payment_intent.status) == ("paid", "succeeded")
    assert event_types(stripe_client) == ["checkout.session.completed"]


def test_three_d_secure_fail(web: Client, session: Any, stripe_client: stripe.StripeClient) -> None:
    submit(web, session.id, "4000002500003155")
    challenge_url = f"/stripe-sandbox/checkout/{session.id}/authenticate"
    failed = web.post(challenge_url, data={"action": "fail"})
    assert failed.status_code == 402
    assert "unable to authenticate your payment method" in failed.get_data(as_text=True)
    open_session = state(stripe_client, session.id)
    assert open_session.status == "open"
    pi = open_session.payment_intent
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"
    assert pi.latest_charge is None  # authentication failed before any charge
    assert web.get(challenge_url).status_code == 303  # nothing left to authenticate


@pytest.mark.parametrize(
    ("outcome", "pi_status", "payment_status", "event"),
    [
        ("succeeded", "succeeded", "paid", "checkout.session.async_payment_succeeded"),
        ("failed", "requires_payment_method", "unpaid", "checkout.session.async_payment_failed"),
    ],
)
def test_bank_transfer_completes_unpaid_then_settles(
    web: Client,
    session: Any,
    stripe_client: stripe.StripeClient,
    sandbox: Sandbox,
    outcome: str,
    pi_status: str,
    payment_status: str,
    event: str,
) -> None:
    response = submit(web, session.id, method="bank_transfer", outcome=outcome)
    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS + session.id
    pending = state(stripe_client, session.id)
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    assert pending.payment_intent.status == "processing"
    assert pending.payment_intent.latest_charge.status == "pending"
    assert pending.payment_intent.payment_method_types == ["card", "us_bank_account"]
    html = web.get(f"/stripe-sandbox/checkout/{session.id}").get_data(as_text=True)
    assert "Bank transfer pending" in html

    sandbox.advance_clock(9)
    assert state(stripe_client, session.id).payment_intent.status == "processing"
    sandbox.advance_clock(1)
    settled = state(stripe_client, session.id)
    assert settled.payment_intent.status == pi_status
    assert settled.payment_status == payment_status
    assert settled.status == "complete"
    charge_status = "succeeded" if outcome == "succeeded" else "failed"
    assert settled.payment_intent.latest_charge.status == charge_status
    assert event_types(stripe_client) == ["checkout.session.completed", event]
    last = stripe_client.v1.events.list(params={"limit": 1}).data[0]
    assert last.data.object.payment_status == payment_status
    assert last.request.id is None  # the bank settled it, not an API request


def test_expired_session_shows_its_state(
    web: Client, session: Any, stripe_client: stripe.StripeClient, sandbox: Sandbox
) -> None:
    sandbox.advance_clock(24 * 3600)
    html = web.get(f"/stripe-sandbox/checkout/{session.id}").get_data(as_text=True)
    assert "This checkout session has expired" in html
    assert "Card number" not in html
    refused = submit(web, session.id, "4242424242424242")
    assert refused.status_code == 409
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert event_types(stripe_client) == ["checkout.session.expired"]


def test_email_is_required(web: Client, session: Any) -> None:
    response = submit(web, session.id, "4242424242424242", email="")
    assert response.status_code == 422
    assert "Enter your email address." in response.get_data(as_text=True)


def test_mistyped_card_number(web: Client, session: Any) -> None:
    response = submit(web, session.id, "4242 4242 4242 4241")
    assert response.status_code == 402
    assert "Your card number is incorrect." in response.get_data(as_text=True)


def test_unknown_session_is_a_404_page(web: Client) -> None:
    response = web.get("/stripe-sandbox/checkout/cs_test_nope")
    assert response.status_code == 404
    assert "No such checkout session" in response.get_data(as_text=True)


def test_page_under_a_dispatcher_mount(make_sandbox: AppFactory) -> None:
    sandbox_app = make_sandbox(PUBLIC_URL=None)
    client = client_for(sandbox_app)
    session = make_session(client, make_shop(client))
    host = Flask("host")
    host.wsgi_app = DispatcherMiddleware(host.wsgi_app, {"/stripe-sandbox": sandbox_app})  # type: ignore[method-assign]
    browser = host.test_client()
    path = f"/stripe-sandbox/checkout/{session.id}"
    html = browser.get(path).get_data(as_text=True)
    assert f'action="{path}"' in html
    assert 'href="/stripe-sandbox/static/sandbox.css"' in html
    three_ds = browser.post(path, data={"email": "a@b.c", "card_number": "4000002500003155"})
    assert three_ds.headers["Location"] == f"{path}/authenticate"
