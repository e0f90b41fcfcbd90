"""The admin timeline, resolving needs_review purchases, and receipts through an mail."""

from __future__ import annotations

import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app import ledger
from app.domain import users
from app.domain.mail import deliver_pending, wait_for_background
from app.extensions import db
from app.models import AuditLog, OutboxMessage, Purchase
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object

ADMIN_API = "/api/v1/admin/billing/credits/purchases"


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"

    def texts(self) -> list[str]:
        return [m.content.decode() for m in self.messages]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), ready_timeout=120)
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def admin(sandbox_app):
    with sandbox_app.app_context():
        return {
            "Authorization": "Bearer "
            + users.issue_token(make_user("boss@example.com", admin=True))
        }


def paid_pro(app, sandbox) -> tuple[dict, dict]:
    """A new buyer buys Pro through the API and pays it in the sandbox; webhooks delivered."""
    with app.app_context():
        buyer = {"Authorization": f"Bearer {users.issue_token(make_user())}"}
    body = (
        app.test_client()
        .post("/api/v1/billing/credits/purchase", json={"package_code": "pro"}, headers=buyer)
        .get_json()
    )
    _, session = sandbox.pay(body["session_id"])
    sandbox.flush()
    return body, session


def test_timeline_shows_every_step_of_a_paid_refunded_disputed_purchase(
    sandbox_app, sandbox, admin
):
    client = sandbox_app.test_client()
    body, session = paid_pro(sandbox_app, sandbox)
    url = f"{ADMIN_API}/{body['purchase_id']}"
    refund = client.post(f"{url}/refund", json={"amount_cents": 1700}, headers=admin)
    assert refund.status_code == 201
    sandbox.flush()
    charge = sandbox.get(f"payment_intents/{session['payment_intent']}")["latest_charge"]
    sandbox.helper(f"charges/{charge}/dispute")
    sandbox.flush()

    detail = client.get(url, headers=admin).get_json()
    assert detail["status"] == "disputed" and detail["user_email"] == "buyer@example.com"
    assert detail["refunded_cents"] == 1700 and detail["buyer_balance"] == 0
    steps = [(t["source"], t["type"]) for t in detail["timeline"]]
    for step in [
        ("audit", "purchase.created"),
        ("stripe", "checkout.session.completed"),
        ("ledger", "grant"),
        ("audit", "purchase.status_changed"),
        ("audit", "refund.requested"),
        ("stripe", "charge.refunded"),
        ("ledger", "take_back"),
        ("stripe", "charge.dispute.created"),
    ]:
        assert step in steps, (step, steps)
    times = [t["at"] for t in detail["timeline"]]
    assert times == sorted(times)
    assert (
        steps.index(("ledger", "grant"))
        < steps.index(("audit", "refund.requested"))
        < steps.index(("stripe", "charge.dispute.created"))
    )
    takes = [t["credits"] for t in detail["timeline"] if t["source"] == "ledger"]
    assert takes == [
        1000,
        -200,
        -800,
    ]  # ceil(1000 * 1700 / 8500) = 200, then the rest for the dispute
    with sandbox_app.app_context():
        assert (
            db.session.scalar(
                select(func.count(AuditLog.id)).where(AuditLog.action == "ledger.posted")
            )
            == 3
        )


def test_timeline_and_resolve_are_admin_only(sandbox_app):
    client = sandbox_app.test_client()
    with sandbox_app.app_context():
        purchase = make_purchase(make_user())
        buyer = {"Authorization": f"Bearer {users.issue_token(purchase.user)}"}
        public_id = purchase.public_id
    assert client.get(f"{ADMIN_API}/{public_id}", headers=buyer).status_code == 403
    assert (
        client.post(f"{ADMIN_API}/{public_id}/resolve", json={}, headers=buyer).status_code == 403
    )


@pytest.fixture
def mismatched(app, client):
    """A purchase whose payment did not match our row: needs_review, never credited."""
    with app.app_context():
        purchase = make_purchase(make_user())
        deliver(
            client,
            event_for(session_object(purchase, amount_total=1), "checkout.session.completed"),
        )
        admin = users.issue_token(make_user("boss@example.com", admin=True))
        return purchase.public_id, purchase.user_id, {"Authorization": f"Bearer {admin}"}


def test_resolving_a_mismatch_by_crediting_is_audited(app, client, mismatched):
    public_id, user_id, admin = mismatched
    url = f"{ADMIN_API}/{public_id}/resolve"
    detail = client.get(f"{ADMIN_API}/{public_id}", headers=admin).get_json()
    assert detail["status"] == "needs_review" and detail["review_actions"] == ["credit", "fail"]
    assert "amount 1 != 8500" in detail["review_reason"]
    assert (
        client.post(url, json={"action": "credit"}, headers=admin).status_code == 422
    )  # note required
    assert (
        client.post(url, json={"action": "confirm", "note": "x"}, headers=admin).status_code == 422
    )
    done = client.post(url, json={"action": "credit", "note": "paid by invoice #7"}, headers=admin)
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    with app.app_context():
        assert ledger.balance(user_id) == 1000
        record = db.session.scalar(select(AuditLog).where(AuditLog.action == "review.resolved"))
        assert record.note == "paid by invoice #7" and record.after == {
            "status": "completed",
            "action": "credit",
        }
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1  # its receipt
    assert (
        client.post(url, json={"action": "credit", "note": "again"}, headers=admin).status_code
        == 422
    )


def test_resolving_a_mismatch_by_failing(app, client, mismatched):
    public_id, user_id, admin = mismatched
    done = client.post(
        f"{ADMIN_API}/{public_id}/resolve", json={"action": "fail", "note": "fraud"}, headers=admin
    )
    assert done.get_json()["status"] == "failed"
    with app.app_context():
        assert ledger.balance(user_id) == 0


@pytest.mark.parametrize(
    ("action", "status", "balance"), [("confirm", "completed", 1000), ("take_back", "failed", 0)]
)
def test_resolving_credited_but_unpaid(app, client, action, status, balance):
    from app.db import write_transaction
    from app.domain.purchases import set_status
    from app.models import PurchaseStatus

    with app.app_context():
        purchase = make_purchase(make_user())
        deliver(client, event_for(session_object(purchase), "checkout.session.completed"))
        with write_transaction():
            row = db.session.get(Purchase, purchase.id)
            row.review_reason = "reconcile: credited, but Stripe shows it unpaid"
            set_status(row, PurchaseStatus.NEEDS_REVIEW, "reconcile")
        admin = {
            "Authorization": "Bearer "
            + users.issue_token(make_user("boss@example.com", admin=True))
        }
        public_id, user_id = purchase.public_id, purchase.user_id
    detail = client.get(f"{ADMIN_API}/{public_id}", headers=admin).get_json()
    assert detail["review_actions"] == ["confirm", "take_back"]
    done = client.post(
        f"{ADMIN_API}/{public_id}/resolve",
        json={"action": action, "note": "checked"},
        headers=admin,
    )
    assert done.get_json()["status"] == status
    with app.app_context():
        assert ledger.balance(user_id) == balance
        assert ledger.verify() == []


# -- receipts and notices ----------------------------------------------------------


def test_exactly_one_receipt_however_often_the_webhook_arrives(app, client, smtp):
    mailbox, port = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    with app.app_context():
        purchase = make_purchase(make_user())
        event = event_for(session_object(purchase), "checkout.session.completed")
        succeeded = event_for(session_object(purchase), "checkout.session.async_payment_succeeded")
        public_id = purchase.public_id
    threads = [threading.Thread(target=lambda: deliver(app.test_client(), event)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver(client, succeeded)
    with app.app_context():
        runs = [threading.Thread(target=lambda: _deliver(app)) for _ in range(4)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    assert len(mailbox.messages) == 1
    text = mailbox.texts()[0]
    assert mailbox.messages[0].rcpt_tos == ["buyer@example.com"]
    for expected in (
        "Pro Pack",
        "Credits:     1,000",
        "Amount paid: $85.00",
        "New balance: 1,000 credits",
        "http://localhost/credits/history",
        public_id,
    ):
        assert expected in text


def _deliver(app) -> None:
    with app.app_context():
        deliver_pending()
        db.session.remove()


def test_smtp_down_never_fails_the_webhook_and_outbox_deliver_sends_later(app, client, smtp):
    mailbox, port = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_BACKGROUND=True)
    with app.app_context():
        purchase = make_purchase(make_user())
        event = event_for(session_object(purchase), "checkout.session.completed")
    response = deliver(client, event)
    assert response.status_code == 200 and response.get_json()["outcome"] == "credited"
    wait_for_background(timeout=300)  # the attempt the commit started, off the request path
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert (
            message.sent_at is None and message.attempts >= 1 and "Connection" in message.last_error
        )
        assert db.session.get(Purchase, purchase.id).status == "completed"
        message.next_attempt_at = message.created_at  # due again now
        db.session.commit()
    app.config["MAIL_PORT"] = port
    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0 and "sent 1, failed 0" in result.output
    assert len(mailbox.messages) == 1


def test_the_receipt_is_sent_in_the_background_after_commit(app, client, smtp):
    mailbox, port = smtp
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_BACKGROUND=True)
    with app.app_context():
        event = event_for(session_object(make_purchase(make_user())), "checkout.session.completed")
    assert deliver(client, event).status_code == 200
    wait_for_background(timeout=300)
    assert len(mailbox.messages) == 1


def test_refund_and_dispute_outcomes_send_a_notice(sandbox_app, sandbox, admin):
    client = sandbox_app.test_client()
    body, session = paid_pro(sandbox_app, sandbox)
    client.post(
        f"{ADMIN_API}/{body['purchase_id']}/refund", json={"amount_cents": 8500}, headers=admin
    )
    sandbox.flush()
    with sandbox_app.app_context():
        subjects = [
            m.subject for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    assert subjects[0].startswith("Receipt: 1,000 credits")
    assert subjects[1] == "1,000 credits taken back (Pro Pack)"
    assert len(subjects) == 2


@pytest.mark.parametrize(
    ("outcome", "last_subject"),
    [
        ("won", "1,000 credits given back (Pro Pack)"),
        ("lost", "Dispute closed: the credits stay taken back (Pro Pack)"),
    ],
)
def test_dispute_outcomes_send_a_notice(sandbox_app, sandbox, outcome, last_subject):
    _, session = paid_pro(sandbox_app, sandbox)
    charge = sandbox.get(f"payment_intents/{session['payment_intent']}")["latest_charge"]
    _, dispute = sandbox.helper(f"charges/{charge}/dispute")
    sandbox.flush()
    sandbox.helper(f"disputes/{dispute['id']}/close", outcome=outcome)
    sandbox.flush()
    sandbox.flush()
    with sandbox_app.app_context():
        subjects = [
            m.subject for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    assert subjects[1] == "1,000 credits taken back (Pro Pack)"
    assert subjects[2:] == [last_subject]


def test_due_messages_are_sent_in_batches_and_a_failure_holds_back_only_itself(app, monkeypatch):
    from app.db import write_transaction
    from app.domain import mail

    sent_to = []

    def send(message):
        if message.to_email == "broken@example.com":
            raise OSError("mailbox unavailable")
        sent_to.append(message.to_email)

    monkeypatch.setattr(mail, "send_email", send)
    with app.app_context():
        with write_transaction():
            for n, email in enumerate(["a@example.com", "broken@example.com", "b@example.com"]):
                mail.enqueue(f"test:{n}", "notice", email, "Hello", "Body")
            mail.enqueue("test:0", "notice", "a@example.com", "Hello", "Body")  # once per key
        assert deliver_pending(limit=2) == (2, 1)  # two batches: a + broken, then b
        assert sent_to == ["a@example.com", "b@example.com"]
        broken = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.to_email == "broken@example.com")
        )
        assert broken.sent_at is None and broken.attempts == 1 and broken.locked_until is None
        assert "mailbox unavailable" in broken.last_error
        assert broken.next_attempt_at > broken.created_at  # backed off, not due again yet
        sent = db.session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_not(None)))
        assert sorted(m.to_email for m in sent) == ["a@example.com", "b@example.com"]
        db.session.commit()
        assert deliver_pending() == (0, 0)
        assert sent_to == ["a@example.com", "b@example.com"]


def test_a_sender_whose_lease_was_taken_over_records_nothing(app):
    from datetime import timedelta

    from app.db import write_transaction
    from app.domain import mail

    with app.app_context():
        with write_transaction():
            mail.enqueue("test:lease", "notice", "a@example.com", "Hello", "Body")
        until, batch = mail._claim(10)
        assert [m.to_email for m in batch] == ["a@example.com"]
        assert mail._claim(10)[1] == []  # leased: nobody else gets it
        with write_transaction():
            message = db.session.scalar(select(OutboxMessage))
            message.locked_until = until + timedelta(seconds=1)  # another sender's lease
        mail._finish(until, [batch[0].id], [], [])
        db.session.expire_all()
        message = db.session.scalar(select(OutboxMessage))
        assert message.sent_at is None and message.locked_until == until + timedelta(seconds=1)
