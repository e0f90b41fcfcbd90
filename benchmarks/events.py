"""Signed Stripe events, built and signed the way Stripe sends them, right before a phase."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe

from .config import ROOT

WEBHOOK_PATH = "/api/v1/billing/credits/webhook"
REDELIVERY_PATH = "/reference/redelivery"  # reference_app.py's minimal redelivery handler
FIXTURES = ROOT.parent / "shared" / "reference" / "stripe-fixtures.json"


def session_template() -> tuple[dict[str, Any], str]:
    """Stripe's own example Checkout Session (about 3 KB) when the reference copy is beside
    the repository, else a minimal one; the second value says which."""
    try:
        fixture = json.loads(FIXTURES.read_text())["resources"]["checkout.session"]
    except (OSError, KeyError, ValueError):
        return {"object": "checkout.session", "mode": "payment"}, "minimal"
    return dict(fixture), "stripe-fixture"


def completed_session(
    template: dict[str, Any],
    *,
    session_id: str,
    public_id: str,
    amount_cents: int,
    currency: str,
    customer: str,
) -> dict[str, Any]:
    """A paid `checkout.session.completed` session for one of our pending purchases."""
    return {
        **template,
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": amount_cents,
        "amount_subtotal": amount_cents,
        "currency": currency,
        "client_reference_id": public_id,
        "customer": customer,
        "payment_intent": "pi_bench_" + public_id[4:],
        "metadata": {"purchase_id": public_id},
        "livemode": False,
    }


def event_body(obj: dict[str, Any], event_type: str = "checkout.session.completed") -> str:
    """Wrap an object in a Stripe event envelope; return it as one line of JSON."""
    return json.dumps(
        {
            "id": f"evt_bench_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
    )


def sign_all(bodies: list[str], secret: str) -> list[tuple[str, str]]:
    """Sign each body now: Stripe-Signature t=<now>,v1=HMAC_SHA256(secret, "<t>.<body>")."""
    now = int(time.time())
    return [
        (stripe.WebhookSignature.generate_signature_header(body, secret, now), body)
        for body in bodies
    ]


def event_bodies(template: dict, purchases: list[dict]) -> list[str]:
    """Return one completed-session event body per pending purchase."""
    return [
        event_body(
            completed_session(
                template,
                session_id=p["session_id"],
                public_id=p["public_id"],
                amount_cents=p["amount_cents"],
                currency=p["currency"],
                customer=p["customer"],
            )
        )
        for p in purchases
    ]
