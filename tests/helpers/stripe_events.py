"""Stripe events for a purchase, signed as Stripe signs them, and their delivery to the webhook."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe
from flask.testing import FlaskClient

from app.models import Purchase
from tests.helpers.apps import WEBHOOK_SECRET

WEBHOOK_PATH = "/api/v1/billing/credits/webhook"


def session_object(purchase: Purchase, **overrides: Any) -> dict[str, Any]:
    """A Checkout Session as Stripe sends it for this purchase (paid unless overridden)."""
    return {
        "id": purchase.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": purchase.amount_cents,
        "currency": purchase.currency,
        "client_reference_id": purchase.public_id,
        "customer": None,
        "payment_intent": f"pi_{purchase.public_id[4:]}",
        "metadata": {"purchase_id": purchase.public_id},
        "livemode": False,
        **overrides,
    }


def event_for(obj: dict[str, Any], event_type: str, event_id: str | None = None) -> dict[str, Any]:
    """Wrap an object in a Stripe event envelope."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Sign a body exactly as Stripe does: t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<body>")."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def deliver(client: FlaskClient, event: dict[str, Any], **sign_kwargs: Any):
    """POST a signed event to the webhook."""
    body = json.dumps(event)
    return client.post(
        WEBHOOK_PATH,
        data=body,
        headers={"Stripe-Signature": sign(body, **sign_kwargs), "Content-Type": "application/json"},
    )
