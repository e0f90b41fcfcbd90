"""Outcomes are an enum whose values are the words the webhook has always answered with."""

from __future__ import annotations

import json

from app.payments.outcomes import Outcome, SessionState, with_credits


def test_outcome_values_are_the_answered_words():
    assert {o.value for o in Outcome} == {
        "credited",
        "already_credited",
        "processing",
        "failed",
        "expired",
        "needs_review",
        "mismatch",
        "no_change",
        "not_credited",
        "unknown_session",
        "unknown_charge",
        "malformed",
        "ignored",
        "duplicate",
        "taken_back",
        "restored",
    }
    assert {s.value for s in SessionState} == {"paid", "unpaid", "failed", "expired", "open"}


def test_outcomes_serialise_and_compare_as_their_words():
    assert json.dumps({"outcome": Outcome.CREDITED}) == '{"outcome": "credited"}'
    assert Outcome.DUPLICATE == "duplicate"
    assert with_credits(Outcome.TAKEN_BACK, 530) == "taken_back:530"
    assert with_credits(Outcome.RESTORED, 1) == "restored:1"
