"""Money, credits and times written as text (pages, emails, CSV, JSON), and amounts people
type read back into integer minor units (never floats)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context

from app.errors import ValidationFailed

# Stripe's largest amount in minor units (MAX_AMOUNT_CENTS may lower it).
MAX_AMOUNT_CENTS = 99_999_999
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof"})
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def money(cents: int, currency: str = "usd") -> str:
    """Format integer minor units as a price, e.g. 8500 usd -> $85.00."""
    currency = currency.lower()
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    amount = f"{cents:,}" if currency in ZERO_DECIMAL else f"{cents // 100:,}.{cents % 100:02d}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


def decimal_amount(cents: int, currency: str) -> str:
    """Format minor units as a plain decimal, e.g. 8500 -> 85.00."""
    if currency.lower() in ZERO_DECIMAL:
        return str(cents)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def credits(value: int) -> str:
    """Format a credit count with thousands separators."""
    return f"{int(value):,}"


def outcome_words(outcome: str) -> str:
    """Write an event's outcome for people, e.g. taken_back:236 -> taken back 236 credits."""
    word, _, count = (outcome or "").partition(":")
    text = word.replace("_", " ")
    return f"{text} {int(count):,} credits" if count.isdigit() else text


def iso(value: datetime | None) -> str | None:
    """Format a time as ISO 8601 UTC with a Z suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def signed_credits(value: int) -> str:
    """Format a credit movement with its sign, e.g. +1,000 or −1,000 (a true minus)."""
    value = int(value)
    return f"+{value:,}" if value > 0 else f"−{-value:,}" if value < 0 else "0"


def utc(value: datetime | None, seconds: bool = False) -> str:
    """Format a time for people in UTC, e.g. 2025-03-01 14:05 UTC."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    )


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
    if value.adjusted() > 12:
        raise ValidationFailed(f"the amount must be at most {money(amount_limit(), currency)}")
    return check_cents(int(value.scaleb(places)), currency=currency)


def amount_limit() -> int:
    """Return the largest amount in minor units one request may name, from the app's config."""
    if not has_app_context():
        return MAX_AMOUNT_CENTS
    configured = int(current_app.config.get("MAX_AMOUNT_CENTS", MAX_AMOUNT_CENTS))
    return min(configured, MAX_AMOUNT_CENTS)


def check_cents(amount: object, name: str = "amount_cents", currency: str = "usd") -> int:
    """Return amount if it is a positive whole number of minor units within the limit."""
    if type(amount) is not int or amount <= 0:
        raise ValidationFailed(f"{name} must be a positive whole number of cents")
    if amount > amount_limit():
        raise ValidationFailed(f"{name} must be at most {money(amount_limit(), currency)}")
    return amount
