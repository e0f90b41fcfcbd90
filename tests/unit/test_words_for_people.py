"""What people read: outcomes in words, not internal codes."""

from __future__ import annotations

from app.domain.formats import outcome_words


def test_outcomes_are_written_in_words():
    assert outcome_words("taken_back:236") == "taken back 236 credits"
    assert outcome_words("restored:1500") == "restored 1,500 credits"
    assert outcome_words("already_credited") == "already credited"
    assert outcome_words("") == ""
