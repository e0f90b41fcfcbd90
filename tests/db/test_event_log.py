"""The admins' record of Stripe events without HTTP: which outcomes it lists, and its pages."""

from __future__ import annotations

import pytest

from app.errors import ValidationFailed
from app.extensions import db
from app.models import StripeEvent
from app.payments.event_log import recorded_events
from app.payments.outcomes import Outcome


def record(*outcomes: str) -> list[int]:
    rows = [
        StripeEvent(event_id=f"evt_{n}", type="checkout.session.completed", outcome=outcome)
        for n, outcome in enumerate(outcomes)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def test_by_default_only_the_events_that_need_a_look_are_listed(ctx):
    ids = record("credited", "malformed", "unknown_charge", "duplicate", "mismatch")
    page = recorded_events(None, 10, None)
    assert [e.id for e in page.items] == [ids[4], ids[2], ids[1]]
    assert page.next_cursor is None


def test_one_outcome_lists_those_events_alone(ctx):
    ids = record("credited", "malformed", "credited")
    assert [e.id for e in recorded_events("credited", 10, None).items] == [ids[2], ids[0]]


def test_the_cursor_continues_where_the_page_ended(ctx):
    ids = record("malformed", "mismatch", "unknown_session")
    first = recorded_events(None, 2, None)
    assert [e.id for e in first.items] == [ids[2], ids[1]]
    second = recorded_events(None, 2, first.next_cursor)
    assert [e.id for e in second.items] == [ids[0]]
    assert second.next_cursor is None


def test_an_unknown_outcome_names_every_known_one(ctx):
    with pytest.raises(ValidationFailed) as raised:
        recorded_events("nonsense", 10, None)
    assert str(raised.value) == f"outcome must be one of {', '.join(Outcome)}"
    assert "credited, already_credited, processing" in str(raised.value)
