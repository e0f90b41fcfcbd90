"""Which correctly signed Stripe events have a shape the handlers can use.

A signed event that is not (a list where an id belongs, a missing charge, a NUL or an id
longer than the columns hold) would fail the same way on every delivery, so Stripe would
retry it for days. It is acknowledged, recorded as malformed and changes nothing instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

MAX_ID = 255
MAX_TYPE = 100
CHECKOUT_PREFIX = "checkout.session."
REFERENCE_FIELDS = ("client_reference_id", "payment_intent", "customer")


class Malformed(ValueError):
    """What is wrong with an event's shape."""


def usable_text(value: Any, limit: int = MAX_ID) -> bool:
    """Tell whether a value can serve as an id: non-empty text within the limit, no NUL."""
    return isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value


def _reference(obj: Mapping[str, Any], field: str, *, required: bool) -> None:
    """Check a field that names another object: an id, an expanded object with one, or None."""
    value = obj.get(field)
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None and not required:
        return
    # Any text a column can hold will do (an empty reference is a mismatch, not a shape error).
    if not (usable_text(value) or (value == "" and not required)):
        raise Malformed(f"data.object.{field} is not an id")


def _check_object(kind: str, obj: Mapping[str, Any]) -> None:
    # The object id is recorded with every event; these types are found by it.
    needs_id = kind.startswith((CHECKOUT_PREFIX, "charge.dispute.")) or kind == "charge.refunded"
    if needs_id or "id" in obj:
        _reference(obj, "id", required=True)
    if kind.startswith(CHECKOUT_PREFIX):
        for field in REFERENCE_FIELDS:
            _reference(obj, field, required=False)
        if not isinstance(obj.get("currency"), str | None):
            raise Malformed("data.object.currency is not text")
    elif kind == "charge.refund.updated" or kind.startswith("charge.dispute."):
        _reference(obj, "charge", required=True)


def malformed(event: Mapping[str, Any]) -> str | None:
    """Describe what makes a signed event unusable, or return None when it can be handled."""
    try:
        if not usable_text(event.get("id")):
            raise Malformed("the event id is not an id")
        if not usable_text(event.get("type"), MAX_TYPE):
            raise Malformed("the event type is not a type")
        _check_object(event["type"], event["data"]["object"])
    except Malformed as problem:
        return str(problem)
    return None


def record_id(event: Mapping[str, Any], body: bytes) -> str:
    """Return the id to record an event under: its own, or the sha256 of its body."""
    if usable_text(event.get("id")):
        return event["id"]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def record_type(event: Mapping[str, Any]) -> str:
    """Return the event's type as it can be stored."""
    kind = event.get("type")
    return kind.replace("\x00", "")[:MAX_TYPE] if isinstance(kind, str) else "unknown"
