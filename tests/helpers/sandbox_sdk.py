"""The bare Stripe sandbox through stripe-python: its test settings, SDK clients and builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe
from flask import Flask

from stripe_sandbox import WSGIHTTPClient

WEBHOOK_URL = "http://hooks.test/stripe/webhook"
SECRET = "whsec_test_current"
SECRETS = f"{SECRET},whsec_test_previous"
BASE = "http://127.0.0.1:5000/stripe-sandbox"

AppFactory = Callable[..., Flask]


@dataclass
class Shop:
    """A product with a price, as the app's catalog sync would create them."""

    product: stripe.Product
    price: stripe.Price


def make_shop(client: stripe.StripeClient, amount: int = 1000, key: str = "pro") -> Shop:
    """Create a product and a one-time price with a lookup key."""
    product = client.v1.products.create(params={"name": "Pro Pack", "metadata": {"code": key}})
    price = client.v1.prices.create(
        params={"product": product.id, "unit_amount": amount, "currency": "usd", "lookup_key": key}
    )
    return Shop(product, price)


def make_session(client: stripe.StripeClient, shop: Shop, **params: Any) -> Any:
    """Create a Checkout Session the way the app does."""
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": shop.price.id, "quantity": 1}],
            "success_url": "http://localhost/checkout/return?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://localhost/checkout/cancel",
            "client_reference_id": "purchase_1",
            "metadata": {"purchase_id": "purchase_1"},
            "payment_intent_data": {"metadata": {"purchase_id": "purchase_1"}},
            **params,
        }
    )


def helper(client: stripe.StripeClient, path: str, **params: Any) -> Any:
    """POST to a sandbox test helper and return the decoded object."""
    return client.deserialize(client.raw_request("post", path, **params), api_mode="V1")


def pay(client: stripe.StripeClient, session_id: str, **params: Any) -> Any:
    """Pay a session through the test helper (card=..., payment_method=bank_transfer ...)."""
    return helper(client, f"/v1/test_helpers/checkout/sessions/{session_id}/pay", **params)


def client_for(app: Any) -> stripe.StripeClient:
    """Return an in-process SDK client for a sandbox app."""
    return stripe.StripeClient(
        api_key="sk_test_x",
        http_client=WSGIHTTPClient(app, BASE),
        base_addresses={"api": BASE},
        max_network_retries=0,
    )


def expire_sessions(client: stripe.StripeClient, count: int) -> list[str]:
    """Create and expire `count` sessions; return the ids of their events in order."""
    shop = make_shop(client)
    for _ in range(count):
        client.v1.checkout.sessions.expire(make_session(client, shop).id)
    events = client.v1.events.list(params={"limit": 100}).data
    return [e.id for e in reversed(events)]
