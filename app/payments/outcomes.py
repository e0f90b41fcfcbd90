"""What a Checkout Session says about its payment, and what handling a Stripe event did.

Both are string enums: their values are the words stored with each event and returned in the
webhook's JSON answer, so comparing or serialising them works as with plain strings.
"""

from __future__ import annotations

import enum


class SessionState(enum.StrEnum):
    """Where a Checkout Session's payment stands."""

    PAID = "paid"
    UNPAID = "unpaid"
    FAILED = "failed"
    EXPIRED = "expired"
    OPEN = "open"


class Outcome(enum.StrEnum):
    """What handling an event (or a return-page check, or reconciliation) did."""

    CREDITED = "credited"
    ALREADY_CREDITED = "already_credited"
    PROCESSING = "processing"
    FAILED = "failed"
    EXPIRED = "expired"
    NEEDS_REVIEW = "needs_review"
    MISMATCH = "mismatch"
    NO_CHANGE = "no_change"
    NOT_CREDITED = "not_credited"
    UNKNOWN_SESSION = "unknown_session"
    UNKNOWN_CHARGE = "unknown_charge"
    MALFORMED = "malformed"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    TAKEN_BACK = "taken_back"
    RESTORED = "restored"


def with_credits(outcome: Outcome, credits: int) -> str:
    """Name a take-back or restoration with how many credits it moved, e.g. taken_back:530."""
    return f"{outcome}:{credits}"
