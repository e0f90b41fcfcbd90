"""Parsing amounts people type into integer minor units (never floats)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from app.errors import ValidationFailed
from app.web.template_filters import ZERO_DECIMAL


def parse_amount(text: str, currency: str) -> int:
    """Turn "12.50" (or "12") into 1250 cents; refuse anything else."""
    raw = (text or "").strip().replace(",", "")
    places = 0 if currency.lower() in ZERO_DECIMAL else 2
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValidationFailed(f"{text!r} is not an amount") from exc
    if not value.is_finite() or value <= 0:
        raise ValidationFailed("the amount must be more than zero")
    if value.as_tuple().exponent < -places:
        raise ValidationFailed(f"use at most {places} decimal places")
    return int(value.scaleb(places))
