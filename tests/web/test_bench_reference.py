"""The benchmark's reference handlers (benchmarks/reference_app.py) do their jobs correctly:
a fulfilment credits once, a redelivery changes nothing, a poll shows only the buyer's own
purchase. The full benchmark compares the app against them, and the smoke run never starts
them, so this keeps them from rotting."""

from __future__ import annotations

import json

import pytest

from app import ledger
from app.domain.packs import seed_packages
from app.extensions import db
from benchmarks.events import REDELIVERY_PATH, WEBHOOK_PATH
from benchmarks.logins import session_cookie
from benchmarks.reference_app import create_reference_app, reference_engine
from tests.helpers.apps import WEBHOOK_SECRET, dispose, make_app
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.databases import database_url
from tests.helpers.stripe_events import event_for, session_object, sign


@pytest.fixture
def reference(tmp_path):
    """The app (for its data and log-in cookies) and the reference app, on one PostgreSQL."""
    url = database_url("postgresql", tmp_path)
    app = make_app(url, tmp_path)
    with app.app_context():
        seed_packages()
    reference_app = create_reference_app(url, WEBHOOK_SECRET, app.config["SECRET_KEY"])
    yield app, reference_app.test_client()
    reference_engine(reference_app).dispose()
    dispose(app)


def test_reference_handlers_credit_once_refuse_what_they_have_not_seen_and_poll_only_own(
    reference,
):
    app, client = reference
    with app.app_context():
        buyer, other = make_user("buyer@example.com"), make_user("other@example.com")
        purchase, others = make_purchase(buyer), make_purchase(other)
        body = json.dumps(event_for(session_object(purchase), "checkout.session.completed"))
        mine, theirs, buyer_id = purchase.public_id, others.public_id, buyer.id
        cookie = session_cookie(app, buyer_id)

    def post(path: str, secret: str = WEBHOOK_SECRET):
        return client.post(path, data=body, headers={"Stripe-Signature": sign(body, secret)})

    assert post(WEBHOOK_PATH, "whsec_someone_else").status_code == 400
    assert post(REDELIVERY_PATH).status_code == 409  # not delivered before
    assert post(WEBHOOK_PATH).json["outcome"] == "credited"
    assert post(WEBHOOK_PATH).json["outcome"] == "duplicate"
    assert post(REDELIVERY_PATH).json["outcome"] == "duplicate"
    with app.app_context():
        assert ledger.balance(buyer_id) == 1000
        assert ledger.verify() == []
        db.session.remove()

    assert client.get(f"/credits/purchase/{mine}/status").status_code == 401
    client.set_cookie("session", cookie, domain="localhost")
    page = client.get(f"/credits/purchase/{mine}/status")
    assert page.status_code == 200
    assert "Completed: 1000 credits added" in page.text
    assert "$85.00" in page.text and "balance\n  is now 1000 credits" in page.text
    assert client.get(f"/credits/purchase/{theirs}/status").status_code == 404
