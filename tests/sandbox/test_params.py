"""Stripe's bracket form encoding and parameter rules."""

from __future__ import annotations

import pytest

from stripe_sandbox import params as P
from stripe_sandbox.errors import InvalidRequest


def test_parse_brackets_lists_and_metadata() -> None:
    parsed = P.parse(
        [
            ("mode", "payment"),
            ("line_items[0][price]", "price_a"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price]", "price_b"),
            ("line_items[1][quantity]", "1"),
            ("metadata[purchase_id]", "p1"),
            ("metadata[0]", "digit keys stay a hash"),
            ("payment_intent_data[metadata][purchase_id]", "p1"),
            ("expand[]", "line_items"),
            ("expand[]", "payment_intent"),
            ("lookup_keys[0]", "pro"),
        ]
    )
    assert parsed == {
        "mode": "payment",
        "line_items": [
            {"price": "price_a", "quantity": "2"},
            {"price": "price_b", "quantity": "1"},
        ],
        "metadata": {"purchase_id": "p1", "0": "digit keys stay a hash"},
        "payment_intent_data": {"metadata": {"purchase_id": "p1"}},
        "expand": ["line_items", "payment_intent"],
        "lookup_keys": ["pro"],
    }


def test_metadata_updates_like_stripe() -> None:
    current = {"a": "1", "b": "2"}
    assert P.metadata({"metadata": {"b": "", "c": "3"}}, current) == {"a": "1", "c": "3"}
    assert P.metadata({"metadata": ""}, current) == {}
    assert P.metadata({}, current) == current
    with pytest.raises(InvalidRequest):
        P.metadata({"metadata": {"k" * 41: "v"}})


def test_scalar_checks() -> None:
    assert P.integer({"n": "-5"}, "n") == -5
    with pytest.raises(InvalidRequest) as exc:
        P.integer({"n": "1.5"}, "n")
    assert exc.value.code == "parameter_invalid_integer"
    assert P.boolean({"b": "true"}, "b") is True
    with pytest.raises(InvalidRequest):
        P.boolean({"b": "yes"}, "b")
    with pytest.raises(InvalidRequest) as exc:
        P.choice({"mode": "rent"}, "mode", ("payment", "setup"))
    assert exc.value.param == "mode"
    assert P.created_filter({"created": {"gte": "10", "lt": "20"}}) == [
        ("created >= ?", [10]),
        ("created < ?", [20]),
    ]
    with pytest.raises(InvalidRequest) as exc:
        P.created_filter({"created": {"after": "1"}})
    assert exc.value.param == "created[after]"
    with pytest.raises(InvalidRequest):
        P.page({"limit": "101"})
