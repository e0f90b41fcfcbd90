"""The record of Stripe events, as admins read it: the ones that need a look first."""

from __future__ import annotations

from sqlalchemy import select

from app.db import Page, paginate
from app.errors import ValidationFailed
from app.models import StripeEvent
from app.payments.outcomes import Outcome

# Events acknowledged without an effect that someone should look at.
NEEDS_A_LOOK = (
    Outcome.MALFORMED,
    Outcome.UNKNOWN_CHARGE,
    Outcome.UNKNOWN_SESSION,
    Outcome.MISMATCH,
)


def recorded_events(outcome: str | None, limit: int, cursor: str | None) -> Page:
    """Return one page of recorded events, newest first: those with one outcome, or (by
    default) every one that needs a look."""
    if outcome and outcome not in set(Outcome):
        raise ValidationFailed(f"outcome must be one of {', '.join(Outcome)}")
    wanted = (outcome,) if outcome else NEEDS_A_LOOK
    query = select(StripeEvent).where(StripeEvent.outcome.in_(wanted))
    return paginate(query, StripeEvent.id, limit, cursor)
