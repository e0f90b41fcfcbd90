"""The admin purchase filter reads dates and times as the admin meant them, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.purchases import PurchaseFilter
from app.errors import ValidationFailed
from app.models import PurchaseStatus


def test_a_day_runs_from_its_first_to_its_last_instant():
    filters = PurchaseFilter.from_args({"created_from": "2024-05-01", "created_to": "2024-05-03"})
    assert filters.created_from == datetime(2024, 5, 1, tzinfo=UTC)
    assert filters.created_to == datetime(2024, 5, 3, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_a_time_keeps_its_offset_and_a_naive_one_is_utc(raw, expected):
    filters = PurchaseFilter.from_args({"created_from": raw, "created_to": raw})
    assert filters.created_from == expected and filters.created_to == expected
    assert filters.created_from.utcoffset() is not None
    if raw.endswith("+02:00"):
        assert filters.created_from.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)
    else:
        assert filters.created_from.tzinfo is UTC


@pytest.mark.parametrize("field", ["created_from", "created_to"])
def test_an_unreadable_time_names_its_field(field):
    with pytest.raises(
        ValidationFailed,
        match=f"^{field} must be a date like 2026-03-01 or a time like 2026-03-01T14:05Z$",
    ):
        PurchaseFilter.from_args({field: "2024-13-01"})


def test_the_email_filter_ignores_case_and_spaces():
    assert PurchaseFilter.from_args({"email": "  Buyer@Example.COM "}).email == "buyer@example.com"


def test_an_unknown_status_lists_the_known_ones():
    with pytest.raises(ValidationFailed) as raised:
        PurchaseFilter.from_args({"status": "lost"})
    assert str(raised.value) == "status must be one of " + ", ".join(PurchaseStatus)
