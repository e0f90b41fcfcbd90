"""Every object the sandbox returns carries the top-level fields of Stripe's own example object.

The examples are Stripe's OpenAPI fixtures (fixtures/stripe-fixtures.json, MIT, see
fixtures/LICENSE-stripe-fixtures.txt).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.helpers.sandbox_sdk import helper, make_session, make_shop, pay

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "stripe-fixtures.json").read_text())
EXAMPLES: dict[str, dict[str, Any]] = FIXTURES["resources"]

# Fields the pinned API version (2026-10-28.endive) returns only when expanded.
EXPAND_ONLY = {"charge": {"refunds"}}


def raw(client: stripe.StripeClient, path: str) -> dict[str, Any]:
    """GET a path and return the JSON exactly as the sandbox sent it."""
    return json.loads(client.raw_request("get", path).body)


def assert_like_stripe(resource: str, obj: dict[str, Any]) -> None:
    """Hold `obj` to the fields and types of Stripe's example `resource`."""
    example = EXAMPLES[resource]
    assert obj["object"] == example["object"]
    expected = set(example) - EXPAND_ONLY.get(resource, set())
    missing = expected - set(obj)
    assert not missing, f"{resource} lacks {sorted(missing)}"
    for key in expected:
        ours, theirs = obj[key], example[key]
        if ours is not None and theirs is not None:
            assert type(ours) is type(theirs), f"{resource}.{key}: {ours!r} vs {theirs!r}"


@pytest.fixture
def paid(stripe_client: stripe.StripeClient) -> dict[str, Any]:
    """Pay, refund and dispute a session; return the ids of everything involved."""
    shop = make_shop(stripe_client)
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    session = make_session(stripe_client, shop, customer=customer.id)
    pay(stripe_client, session.id, card="4242424242424242")
    pi = stripe_client.v1.payment_intents.retrieve(
        stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    dispute = helper(stripe_client, f"/v1/test_helpers/charges/{pi.latest_charge}/dispute")
    return {
        "product": shop.product.id,
        "price": shop.price.id,
        "customer": customer.id,
        "session": session.id,
        "payment_intent": pi.id,
        "payment_method": pi.payment_method,
        "charge": pi.latest_charge,
        "refund": refund.id,
        "dispute": dispute.id,
    }


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("product", "/v1/products/{product}"),
        ("price", "/v1/prices/{price}"),
        ("customer", "/v1/customers/{customer}"),
        ("checkout.session", "/v1/checkout/sessions/{session}"),
        ("payment_intent", "/v1/payment_intents/{payment_intent}"),
        ("payment_method", "/v1/payment_methods/{payment_method}"),
        ("charge", "/v1/charges/{charge}"),
        ("refund", "/v1/refunds/{refund}"),
        ("dispute", "/v1/disputes/{dispute}"),
    ],
)
def test_object_has_stripe_fields(
    stripe_client: stripe.StripeClient, paid: dict[str, Any], resource: str, path: str
) -> None:
    assert_like_stripe(resource, raw(stripe_client, path.format(**paid)))


def test_open_session_and_its_line_items(stripe_client: stripe.StripeClient) -> None:
    session = make_session(stripe_client, make_shop(stripe_client))
    assert_like_stripe(
        "checkout.session", raw(stripe_client, f"/v1/checkout/sessions/{session.id}")
    )
    items = raw(stripe_client, f"/v1/checkout/sessions/{session.id}/line_items")
    assert_like_stripe("item", items["data"][0])
    assert_like_stripe("price", items["data"][0]["price"])


def test_events_and_their_objects(stripe_client: stripe.StripeClient, paid: dict) -> None:
    events = raw(stripe_client, "/v1/events")["data"]
    assert {e["type"] for e in events} == {
        "checkout.session.completed",
        "charge.refunded",
        "charge.dispute.created",
    }
    for event in events:
        assert_like_stripe("event", event)
        assert event["request"].keys() == {"id", "idempotency_key"}
        data_object = event["data"]["object"]
        resource = {"checkout.session": "checkout.session"}.get(
            data_object["object"], data_object["object"]
        )
        assert_like_stripe(resource, data_object)


def test_expanded_charge_refunds_is_a_list(stripe_client: stripe.StripeClient, paid: dict) -> None:
    charge = raw(stripe_client, f"/v1/charges/{paid['charge']}")
    assert "refunds" not in charge
    expanded = stripe_client.v1.charges.retrieve(paid["charge"], params={"expand": ["refunds"]})
    assert [r.id for r in expanded.refunds.data] == [paid["refund"]]
