"""Stripe's signed webhook: verified on the raw body, applied exactly once."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import limiter
from app.payments.client import is_live_key
from app.payments.dispatch import handle_event
from app.payments.signature import verify_event

bp = Blueprint("webhooks", __name__)


def webhook_secrets() -> list[str]:
    """Return the accepted signing secrets (comma-separated in STRIPE_WEBHOOK_SECRET)."""
    raw = current_app.config.get("STRIPE_WEBHOOK_SECRET") or ""
    return [s.strip() for s in raw.split(",") if s.strip()]


@bp.post("/api/v1/billing/credits/webhook")
@limiter.exempt
def stripe_webhook():
    """Receive a Stripe event; a rejected delivery changes nothing."""
    cap = current_app.config.get("WEBHOOK_MAX_BYTES", 256 * 1024)
    if (request.content_length or 0) > cap:
        raise RequestEntityTooLarge(f"webhook bodies are limited to {cap} bytes")
    payload = request.stream.read(cap + 1)
    if len(payload) > cap:
        raise RequestEntityTooLarge(f"webhook bodies are limited to {cap} bytes")
    event = verify_event(
        payload,
        request.headers.get("Stripe-Signature"),
        webhook_secrets(),
        live=is_live_key(),
    )
    outcome = handle_event(event, payload)
    return jsonify({"received": True, "outcome": outcome})
