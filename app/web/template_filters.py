"""What every template gets: filters for money, credits and times (written by
app.domain.formats), and the header's balance."""

from __future__ import annotations

import functools

from flask import Flask
from flask_login import current_user
from werkzeug.local import LocalProxy

from app import ledger
from app.domain.formats import (
    credits,
    decimal_amount,
    iso,
    money,
    outcome_words,
    signed_credits,
    utc,
)


def header_context() -> dict:
    """Offer the logged-in user's balance to the frame's header."""
    if current_user.is_authenticated:
        # Read only if a template shows it (partials pass their own), and then once.
        user_id = current_user.id
        return {"header_balance": LocalProxy(functools.cache(lambda: ledger.balance(user_id)))}
    return {}


def register(app: Flask) -> None:
    """Make the filters and the header's context available to templates."""
    app.add_template_filter(money)
    app.add_template_filter(decimal_amount)
    app.add_template_filter(credits)
    app.add_template_filter(signed_credits)
    app.add_template_filter(iso)
    app.add_template_filter(utc)
    app.add_template_filter(outcome_words)
    app.context_processor(header_context)
