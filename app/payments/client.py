"""The one place a Stripe client is built; no other module constructs one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import stripe
from flask import current_app

from app.errors import StripeUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def stripe_client() -> stripe.StripeClient:
    """Return the app's StripeClient (pinned API version, timeouts, retries, base address)."""
    app = current_app._get_current_object()
    # The sandbox, when this app mounts one, is reached in-process: by the server and by any
    # command alike, through the instance folder's own sandbox state. Configuration decides,
    # never whichever server happens to answer at APP_BASE_URL.
    in_process = app.extensions.get("stripe_http_client")
    cache_key = "stripe_client:in_process" if in_process is not None else "stripe_client:http"
    client = app.extensions.get(cache_key)
    if client is not None:
        return client
    api_key = app.config.get("STRIPE_SECRET_KEY")
    if not api_key:
        raise StripeUnavailable("Stripe is not configured (STRIPE_SECRET_KEY is not set)")
    base = app.config.get("STRIPE_API_BASE")
    client = stripe.StripeClient(
        api_key,
        stripe_version=app.config["STRIPE_API_VERSION"],
        max_network_retries=app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
        http_client=in_process
        or stripe.RequestsClient(timeout=app.config.get("STRIPE_TIMEOUT", 20)),
        base_addresses={"api": base} if base else None,
    )
    app.extensions[cache_key] = client
    return client


def is_missing(exc: StripeUnavailable) -> bool:
    """Tell whether Stripe answered that the object does not exist (a permanent answer)."""
    cause = exc.__cause__
    return isinstance(cause, stripe.InvalidRequestError) and cause.code == "resource_missing"


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
