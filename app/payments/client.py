"""The one place a Stripe client is built; no other module constructs one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import stripe
from flask import current_app

from ..errors import StripeUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def stripe_client() -> stripe.StripeClient:
    """Return the app's StripeClient (pinned API version, timeouts, retries, base address)."""
    app = current_app._get_current_object()
    client = app.extensions.get("stripe_client")
    if client is not None:
        return client
    api_key = app.config.get("STRIPE_SECRET_KEY")
    if not api_key:
        raise StripeUnavailable("Stripe is not configured (STRIPE_SECRET_KEY is not set)")
    http_client = app.extensions.get("stripe_http_client") or stripe.RequestsClient(
        timeout=app.config.get("STRIPE_TIMEOUT", 20)
    )
    base = app.config.get("STRIPE_API_BASE")
    client = stripe.StripeClient(
        api_key,
        stripe_version=app.config["STRIPE_API_VERSION"],
        max_network_retries=app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
        http_client=http_client,
        base_addresses={"api": base} if base else None,
    )
    app.extensions["stripe_client"] = client
    return client


def is_live_key() -> bool:
    """Tell whether the configured key is a live-mode key."""
    return (current_app.config.get("STRIPE_SECRET_KEY") or "").startswith(("sk_live_", "rk_live_"))


def call_stripe(what: str, fn: Callable[[], T]) -> T:
    """Run one Stripe call; any Stripe failure becomes StripeUnavailable (502)."""
    try:
        return fn()
    except stripe.StripeError as exc:
        log.error("Stripe call failed: %s: %s", what, exc)
        raise StripeUnavailable(
            "The payment provider is unavailable right now; nothing was charged. "
            "Try again shortly.",
            stripe_error=type(exc).__name__,
            stripe_code=getattr(exc, "code", None),
        ) from exc
