"""Verify Stripe's webhook signatures on the raw body before anything is parsed."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import stripe

from app.errors import SignatureInvalid

TOLERANCE_SECONDS = 300


def _timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise SignatureInvalid("malformed Stripe-Signature header")


def verify_event(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    live: bool,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the event in a correctly signed body, or raise SignatureInvalid.

    Accepts any of several secrets (rotation) and any matching v1 signature; refuses
    timestamps older or further in the future than the tolerance, bodies that are
    not a JSON event, and events from the other mode (live vs test).
    """
    if not header:
        raise SignatureInvalid("missing Stripe-Signature header")
    if not secrets:
        raise SignatureInvalid("no webhook secret is configured")
    timestamp = _timestamp(header)
    if timestamp > (now or time.time()) + tolerance:
        raise SignatureInvalid("Stripe-Signature timestamp is in the future")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureInvalid("body is not UTF-8") from exc
    failure: Exception | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
            break
        except stripe.SignatureVerificationError as exc:
            failure = exc
    else:
        raise SignatureInvalid(f"signature verification failed: {failure}")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise SignatureInvalid("body is not JSON") from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise SignatureInvalid("body is not a Stripe event")
    if bool(event.get("livemode")) != live:
        raise SignatureInvalid("event mode does not match the API key's mode")
    return event
