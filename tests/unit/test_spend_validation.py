"""A spend request's body is read strictly, and each refusal says what to send."""

from __future__ import annotations

import pytest

from app.domain.spending import validate_spend
from app.errors import ValidationFailed

KEY = {"idempotency_key": "order-1"}


def refusal(body) -> str:
    with pytest.raises(ValidationFailed) as raised:
        validate_spend(body)
    return str(raised.value)


def test_the_edges_that_are_accepted():
    assert validate_spend({"amount": 1, **KEY}) == (1, "order-1", "")
    assert validate_spend({"amount": 5, "idempotency_key": "k" * 200, "description": "d" * 500})
    assert validate_spend({"amount": 5, "idempotency_key": " k ", "description": " x "}) == (
        5,
        "k",
        "x",
    )


def test_each_refusal_names_the_field():
    assert refusal([1]) == 'send a JSON body like {"amount": 5, "idempotency_key": "..."}'
    amount = "amount must be a positive whole number of credits"
    assert refusal({"amount": 0, **KEY}) == amount
    assert refusal({"amount": True, **KEY}) == amount
    key = "idempotency_key must be a string of 1 to 200 characters"
    assert refusal({"amount": 5, "idempotency_key": "k" * 201}) == key
    assert refusal({"amount": 5, "idempotency_key": "  "}) == key
    description = "description must be a string of at most 500 characters"
    assert refusal({"amount": 5, **KEY, "description": "d" * 501}) == description
    assert refusal({"amount": 5, **KEY, "description": 7}) == description
