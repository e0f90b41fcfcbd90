"""The spend API, the transactions list and admin refunds."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import ledger
from app.domain import users
from app.extensions import db
from app.models import AuditLog, LedgerTransaction, RefundRequest
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object

SPEND = "/api/v1/billing/credits/spend"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def funded(app):
    """A buyer with 100 credits and an API token."""
    with app.app_context():
        user = make_user()
        ledger.adjust(user, 100, "starting balance", actor="test")
        return users.issue_token(user)


def test_spend_success_replay_and_conflict(client, funded):
    body = {"amount": 30, "idempotency_key": "job-1", "description": "render"}
    first = client.post(SPEND, json=body, headers=bearer(funded))
    assert first.status_code == 201
    assert first.json["balance"] == 70 and isinstance(first.json["transaction_id"], int)
    client.post(SPEND, json={"amount": 5, "idempotency_key": "job-2"}, headers=bearer(funded))
    replay = client.post(SPEND, json=body, headers=bearer(funded))
    assert replay.status_code == 200 and replay.json == first.json
    conflict = client.post(SPEND, json={**body, "amount": 31}, headers=bearer(funded))
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "conflict"
    assert client.get("/api/v1/billing/credits/balance", headers=bearer(funded)).json == {
        "balance": 65
    }


def test_insufficient_credits_is_402_and_writes_nothing(app, client, funded):
    response = client.post(
        SPEND, json={"amount": 101, "idempotency_key": "big"}, headers=bearer(funded)
    )
    assert response.status_code == 402 and response.json["error"]["code"] == "insufficient_credits"
    with app.app_context():
        assert db.session.scalar(select(func.count(LedgerTransaction.id))) == 1
    ok = client.post(SPEND, json={"amount": 100, "idempotency_key": "big"}, headers=bearer(funded))
    assert ok.status_code == 201 and ok.json["balance"] == 0


def test_a_balance_in_debt_cannot_spend(app, client, funded):
    with app.app_context():
        ledger.adjust(users.get_user("buyer@example.com"), -150, "chargeback", actor="test")
    response = client.post(
        SPEND, json={"amount": 1, "idempotency_key": "k"}, headers=bearer(funded)
    )
    assert response.status_code == 402


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"amount": 0, "idempotency_key": "k"},
        {"amount": -5, "idempotency_key": "k"},
        {"amount": 1.5, "idempotency_key": "k"},
        {"amount": "5", "idempotency_key": "k"},
        {"amount": True, "idempotency_key": "k"},
        {"amount": 5},
        {"amount": 5, "idempotency_key": ""},
        {"amount": 5, "idempotency_key": "x" * 201},
        {"amount": 5, "idempotency_key": "k", "description": 7},
    ],
)
def test_bad_spend_requests_are_422(client, funded, body):
    response = client.post(SPEND, json=body, headers=bearer(funded))
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_error"


def test_spend_needs_auth(client):
    assert client.post(SPEND, json={"amount": 1, "idempotency_key": "k"}).status_code == 401


def test_sixteen_concurrent_spends_never_overdraw(db_app: Flask):
    with db_app.app_context():
        user = make_user()
        ledger.adjust(user, 100, "start", actor="test")
        token = users.issue_token(user)
        user_id = user.id
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def worker(n: int) -> None:
        client = db_app.test_client()
        barrier.wait()
        response = client.post(
            SPEND, json={"amount": 15, "idempotency_key": f"k{n}"}, headers=bearer(token)
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * 6 + [402] * 10
    with db_app.app_context():
        assert ledger.balance(user_id) == 10
        assert ledger.verify() == []


def test_transactions_list_movements_with_balance_after(app, client, funded):
    with app.app_context():
        user = users.get_user("buyer@example.com")
        purchase = make_purchase(user, "starter")
        public_id = purchase.public_id
    deliver(client, event_for(session_object(purchase), "checkout.session.completed"))
    client.post(
        SPEND,
        json={"amount": 40, "idempotency_key": "a", "description": "job"},
        headers=bearer(funded),
    )
    page = client.get("/api/v1/billing/credits/transactions?limit=2", headers=bearer(funded)).json
    assert [(m["kind"], m["amount"], m["balance_after"]) for m in page["data"]] == [
        ("spend", -40, 160),
        ("grant", 100, 200),
    ]
    assert page["data"][1]["purchase_id"] == public_id and page["data"][0]["description"] == "job"
    rest = client.get(
        f"/api/v1/billing/credits/transactions?cursor={page['next_cursor']}", headers=bearer(funded)
    ).json
    assert [(m["kind"], m["balance_after"]) for m in rest["data"]] == [("adjustment", 100)]
    assert rest["next_cursor"] is None


# -- admin refunds -----------------------------------------------------------------


@pytest.fixture
def paid(app, client, stripe_fake):
    """A paid Pro purchase with a real-looking charge, and an admin token."""
    with app.app_context():
        buyer = make_user()
        purchase = make_purchase(buyer)
        intent = stripe_fake.add_charge(8500)
        deliver(
            client,
            event_for(
                session_object(purchase, payment_intent=intent), "checkout.session.completed"
            ),
        )
        admin = users.issue_token(make_user("boss@example.com", admin=True))
        buyer_token = users.issue_token(buyer)
        return {
            "id": purchase.public_id,
            "intent": intent,
            "admin": admin,
            "buyer": buyer_token,
            "user_id": buyer.id,
        }


def refund_url(purchase_id: str) -> str:
    return f"/api/v1/admin/billing/credits/purchases/{purchase_id}/refund"


def test_admin_full_refund_moves_credits_when_stripe_reports_it(app, client, stripe_fake, paid):
    response = client.post(refund_url(paid["id"]), json={}, headers=bearer(paid["admin"]))
    assert response.status_code == 201, response.json
    assert response.json["amount_cents"] == 8500 and response.json["refund_id"].startswith("re_")
    ((_, _, params, key),) = stripe_fake.calls_to("POST", r"/v1/refunds$")
    assert params["payment_intent"] == paid["intent"] and key.startswith(
        f"credits-refund:{paid['id']}:"
    )
    with app.app_context():
        assert ledger.balance(paid["user_id"]) == 1000  # not until Stripe says so
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "refund.requested"))
    charge = stripe_fake.charge_for(paid["intent"])
    deliver(client, event_for(dict(charge), "charge.refunded"))
    deliver(client, event_for(dict(charge), "charge.refunded"))
    with app.app_context():
        assert ledger.balance(paid["user_id"]) == 0
        assert ledger.verify() == []


def test_admin_partial_refund_and_over_refund(app, client, stripe_fake, paid):
    partial = client.post(
        refund_url(paid["id"]), json={"amount_cents": 2000}, headers=bearer(paid["admin"])
    )
    assert partial.status_code == 201
    deliver(client, event_for(dict(stripe_fake.charge_for(paid["intent"])), "charge.refunded"))
    with app.app_context():
        assert ledger.balance(paid["user_id"]) == 1000 - 236  # ceil(1000 * 2000 / 8500)
    over = client.post(
        refund_url(paid["id"]), json={"amount_cents": 6501}, headers=bearer(paid["admin"])
    )
    assert over.status_code == 422 and "6500" in over.json["error"]["message"]
    for bad in (0, -1, 1.5, "100"):
        assert (
            client.post(
                refund_url(paid["id"]), json={"amount_cents": bad}, headers=bearer(paid["admin"])
            ).status_code
            == 422
        )
    rest = client.post(refund_url(paid["id"]), headers=bearer(paid["admin"]))
    assert rest.status_code == 201 and rest.json["amount_cents"] == 6500


def test_a_retry_with_the_same_key_refunds_once(app, client, stripe_fake, paid):
    body = {"amount_cents": 1000, "idempotency_key": "form-abc"}
    first = client.post(refund_url(paid["id"]), json=body, headers=bearer(paid["admin"]))
    again = client.post(refund_url(paid["id"]), json=body, headers=bearer(paid["admin"]))
    assert first.status_code == 201 and again.status_code == 200 and again.json == first.json
    assert len(stripe_fake.calls_to("POST", r"/v1/refunds$")) == 1
    assert stripe_fake.charge_for(paid["intent"])["amount_refunded"] == 1000
    other = client.post(
        refund_url(paid["id"]), json={**body, "amount_cents": 999}, headers=bearer(paid["admin"])
    )
    assert other.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count(RefundRequest.id))) == 1


def test_a_retry_after_stripe_failed_sends_once_more_with_the_same_key(
    app, client, stripe_fake, paid
):
    stripe_fake.fail_next["create_refund"] = 1
    body = {"idempotency_key": "form-x"}
    assert (
        client.post(refund_url(paid["id"]), json=body, headers=bearer(paid["admin"])).status_code
        == 502
    )
    retry = client.post(refund_url(paid["id"]), json=body, headers=bearer(paid["admin"]))
    assert retry.status_code == 200 and retry.json["refund_id"]
    keys = {key for (_, _, _, key) in stripe_fake.calls_to("POST", r"/v1/refunds$")}
    assert len(keys) == 1


def test_refund_of_an_unpaid_purchase_is_422(app, client, paid):
    with app.app_context():
        pending = make_purchase(make_user("p@example.com")).public_id
    response = client.post(refund_url(pending), json={}, headers=bearer(paid["admin"]))
    assert response.status_code == 422
    assert (
        client.post(refund_url("pur_nope"), json={}, headers=bearer(paid["admin"])).status_code
        == 404
    )


def test_refund_is_admin_only(client, paid):
    assert (
        client.post(refund_url(paid["id"]), json={}, headers=bearer(paid["buyer"])).status_code
        == 403
    )
    assert client.post(refund_url(paid["id"]), json={}).status_code == 401


def test_two_users_spending_with_the_same_key_each_spend(app, client):
    with app.app_context():
        tokens = []
        for email in ("a@example.com", "b@example.com"):
            user = make_user(email)
            ledger.adjust(user, 100, "starting balance", actor="test")
            tokens.append((user.id, users.issue_token(user)))
    body = {"amount": 30, "idempotency_key": "job-1"}
    answers = [client.post(SPEND, json=body, headers=bearer(token)) for _, token in tokens]
    assert [a.status_code for a in answers] == [201, 201]
    assert [a.json["balance"] for a in answers] == [70, 70]
    assert answers[0].json["transaction_id"] != answers[1].json["transaction_id"]
    again = client.post(SPEND, json=body, headers=bearer(tokens[1][1]))
    assert again.status_code == 200 and again.json == answers[1].json
    with app.app_context():
        assert [ledger.balance(user_id) for user_id, _ in tokens] == [70, 70]
        assert ledger.verify() == []


def test_a_refund_stripe_refuses_is_409_and_moves_nothing(app, client, stripe_fake, paid):
    stripe_fake.refund(paid["intent"], 8500)  # refunded at Stripe; its event not here yet
    response = client.post(refund_url(paid["id"]), json={}, headers=bearer(paid["admin"]))
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "conflict"
    assert "Stripe refused the refund" in response.json["error"]["message"]
    with app.app_context():
        assert ledger.balance(paid["user_id"]) == 1000
        request = db.session.scalar(select(RefundRequest))
        assert request.status == "refused" and request.stripe_refund_id is None
        assert ledger.verify() == []
