"""Reading a charge's money state: which Stripe failures are final and which are retried."""

from __future__ import annotations

import pytest
import stripe

from app.errors import Retryable, StripeUnavailable
from app.payments import money_events


def failing_read(cause: Exception):
    def read(_charge_id, _dispute_id):
        raise StripeUnavailable("unavailable") from cause

    return read


def test_a_charge_stripe_says_is_missing_has_no_state(monkeypatch):
    missing = stripe.InvalidRequestError("No such charge", "id", code="resource_missing")
    monkeypatch.setattr(money_events, "_read_money_state", failing_read(missing))
    assert money_events.fetch_money_state("ch_gone") is None


@pytest.mark.parametrize(
    "cause",
    [
        stripe.InvalidRequestError("Invalid id", "id", code="parameter_invalid"),
        stripe.APIError("boom", code="resource_missing"),
        stripe.APIConnectionError("no route"),
    ],
    ids=["another-invalid-request", "missing-but-not-an-invalid-request", "connection"],
)
def test_any_other_failure_is_retried_with_its_reason(monkeypatch, cause):
    monkeypatch.setattr(money_events, "_read_money_state", failing_read(cause))
    with pytest.raises(Retryable) as raised:
        money_events.fetch_money_state("ch_1")
    assert raised.value.message == "Stripe could not be read; the event will be delivered again"
    assert isinstance(raised.value.__cause__, StripeUnavailable)
