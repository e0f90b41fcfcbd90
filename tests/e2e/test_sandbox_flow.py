"""End to end: the app and the offline Stripe sandbox, driven through the real stripe SDK."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app import ledger
from app.domain import users
from app.extensions import db
from app.models import CreditPackage, Purchase
from tests.helpers.apps import dispose
from tests.helpers.builders import make_user
from tests.helpers.sandbox_driver import SandboxDriver, sandbox_app_for

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/billing/credits"


@pytest.fixture
def buyer(sandbox_app):
    with sandbox_app.app_context():
        user = make_user()
        return {"Authorization": f"Bearer {users.issue_token(user)}"}, user.id


def buy(client, headers, code="pro") -> dict:
    response = client.post(f"{API}/purchase", json={"package_code": code}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def status_of(app, purchase_id: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Purchase.status).where(Purchase.public_id == purchase_id))


def test_every_page_says_payments_are_simulated(sandbox_app):
    html = sandbox_app.test_client().get("/login").get_data(as_text=True)
    assert "Sandbox: payments are simulated" in html


def test_pay_with_4242_then_flush_credits_the_pack(sandbox_app, sandbox, buyer):
    headers, user_id = buyer
    client = sandbox_app.test_client()
    body = buy(client, headers)
    assert body["checkout_url"] == f"http://localhost/stripe-sandbox/checkout/{body['session_id']}"
    status, session = sandbox.pay(body["session_id"])
    assert status == 200 and session["payment_status"] == "paid"
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 0}
    assert sandbox.flush() >= 1
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 1000}
    assert status_of(sandbox_app, body["purchase_id"]) == "completed"
    with sandbox_app.app_context():
        assert ledger.verify() == []


def test_declined_card_credits_nothing_and_the_session_stays_open(sandbox_app, sandbox, buyer):
    headers, _ = buyer
    client = sandbox_app.test_client()
    body = buy(client, headers)
    status, error = sandbox.pay(body["session_id"], card="4000 0000 0000 0002")
    assert status == 402 and error["error"]["decline_code"] == "generic_decline"
    sandbox.flush()
    assert sandbox.get(f"checkout/sessions/{body['session_id']}")["status"] == "open"
    assert status_of(sandbox_app, body["purchase_id"]) == "pending"
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 0}
    assert sandbox.pay(body["session_id"])[0] == 200  # the buyer tries another card
    sandbox.flush()
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 1000}


def test_an_expired_session_expires_the_purchase(sandbox_app, sandbox, buyer):
    headers, _ = buyer
    body = buy(sandbox_app.test_client(), headers)
    sandbox.advance(61 * 60)
    sandbox.flush()
    assert sandbox.get(f"checkout/sessions/{body['session_id']}")["status"] == "expired"
    assert status_of(sandbox_app, body["purchase_id"]) == "expired"


def test_bank_transfer_is_processing_then_completes_or_fails(sandbox_app, sandbox, buyer):
    headers, _ = buyer
    client = sandbox_app.test_client()
    good, bad = buy(client, headers, "pro"), buy(client, headers, "basic")
    sandbox.pay(good["session_id"], card="", payment_method="bank_transfer", outcome="succeeded")
    sandbox.pay(bad["session_id"], card="", payment_method="bank_transfer", outcome="failed")
    sandbox.flush()
    assert status_of(sandbox_app, good["purchase_id"]) == "processing"
    assert status_of(sandbox_app, bad["purchase_id"]) == "processing"
    sandbox.advance(3600)
    sandbox.flush()
    assert status_of(sandbox_app, good["purchase_id"]) == "completed"
    assert status_of(sandbox_app, bad["purchase_id"]) == "failed"
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 1000}


def test_admin_refund_through_the_sandbox_takes_credits_back(sandbox_app, sandbox, buyer):
    headers, user_id = buyer
    client = sandbox_app.test_client()
    body = buy(client, headers)
    sandbox.pay(body["session_id"])
    sandbox.flush()
    with sandbox_app.app_context():
        admin_token = users.issue_token(make_user("boss@example.com", admin=True))
    admin = {"Authorization": f"Bearer {admin_token}"}
    url = f"/api/v1/admin/billing/credits/purchases/{body['purchase_id']}/refund"
    response = client.post(
        url, json={"amount_cents": 4250, "idempotency_key": "form-1"}, headers=admin
    )
    assert response.status_code == 201, response.get_json()
    again = client.post(
        url, json={"amount_cents": 4250, "idempotency_key": "form-1"}, headers=admin
    )
    assert again.status_code == 200
    sandbox.flush()
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 500}
    assert status_of(sandbox_app, body["purchase_id"]) == "partially_refunded"
    status, refund = sandbox.helper(f"refunds/{response.get_json()['refund_id']}/fail")
    assert status == 200 and refund["status"] == "failed"
    sandbox.flush()
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 1000}
    assert status_of(sandbox_app, body["purchase_id"]) == "completed"
    with sandbox_app.app_context():
        assert ledger.verify() == []


@pytest.mark.parametrize(
    ("outcome", "balance", "final"), [("won", 1000, "completed"), ("lost", 0, "disputed")]
)
def test_disputes_through_the_sandbox(sandbox_app, sandbox, buyer, outcome, balance, final):
    headers, _ = buyer
    client = sandbox_app.test_client()
    body = buy(client, headers)
    _, session = sandbox.pay(body["session_id"])
    sandbox.flush()
    intent = sandbox.get(f"payment_intents/{session['payment_intent']}")
    status, dispute = sandbox.helper(f"charges/{intent['latest_charge']}/dispute")
    assert status == 200
    sandbox.flush()
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 0}
    assert status_of(sandbox_app, body["purchase_id"]) == "disputed"
    sandbox.helper(f"disputes/{dispute['id']}/close", outcome=outcome)
    sandbox.flush()
    assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": balance}
    assert status_of(sandbox_app, body["purchase_id"]) == final


def test_duplicated_shuffled_and_failing_deliveries_still_credit_once(tmp_path):
    app = sandbox_app_for(
        tmp_path,
        SANDBOX_CHAOS_DUPLICATES=4,
        SANDBOX_CHAOS_SHUFFLE=True,
        SANDBOX_CHAOS_FAIL_FIRST=True,
    )
    try:
        driver = SandboxDriver(app)
        with app.app_context():
            headers = {"Authorization": f"Bearer {users.issue_token(make_user())}"}
        client = app.test_client()
        bodies = [buy(client, headers, code) for code in ("starter", "basic", "pro")]
        for body in bodies:
            driver.pay(body["session_id"])
        driver.flush()
        assert client.get(f"{API}/balance", headers=headers).get_json() == {"balance": 1600}
        events = driver.get("events?type=checkout.session.completed&delivery_success=true")
        assert len(events["data"]) == 3
        with app.app_context():
            assert ledger.verify() == []
    finally:
        app.extensions["stripe_sandbox"].close()
        dispose(app)


def flask_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_second_copy_uses_its_own_sandbox_whatever_answers_on_the_port(tmp_path):
    """Another copy already serves at APP_BASE_URL: a fresh copy in its own folder still links
    its packs to its own sandbox, and can sell them."""
    other = sandbox_app_for(tmp_path / "other")
    server = make_server("127.0.0.1", 0, other, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    other.config["APP_BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fresh = tmp_path / "fresh"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "APP_BASE_URL": base,
        "DATABASE_URL": f"sqlite:///{fresh / 'credits.sqlite3'}",
        "INSTANCE_PATH": str(fresh / "instance"),
    }
    env.pop("STRIPE_SECRET_KEY", None)
    try:
        for args in (["db", "upgrade"], ["credits", "seed-packages"], ["credits", "sync-stripe"]):
            result = flask_cli(args, env)
            assert result.returncode == 0, result.stdout + result.stderr
        assert "create price 8500 usd" in result.stdout
        from tests.helpers.apps import make_app

        mine = make_app(
            env["DATABASE_URL"],
            fresh,
            create_schema=False,
            STRIPE_SECRET_KEY=None,
            INSTANCE_PATH=str(fresh / "instance"),
            SANDBOX_START_WORKER=False,
        )
        try:
            with mine.app_context():
                pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
                price_id = pro.stripe_price_id
                token = users.issue_token(make_user())
            assert SandboxDriver(mine).get(f"prices/{price_id}")["unit_amount"] == 8500
            bought = mine.test_client().post(
                "/api/v1/billing/credits/purchase",
                json={"package_code": "pro"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert bought.status_code == 201, bought.get_json()
        finally:
            mine.extensions["stripe_sandbox"].close()
            dispose(mine)
        unknown = other.test_client().get(
            f"/stripe-sandbox/v1/prices/{price_id}",
            headers={"Authorization": "Bearer sk_test_script"},
        )
        assert unknown.status_code == 404, "the fresh copy wrote into the other copy's sandbox"
    finally:
        server.shutdown()
        server.server_close()
        other.extensions["stripe_sandbox"].close()
        dispose(other)
