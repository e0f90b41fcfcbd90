"""`flask credits reconcile` against Stripe states mocked with `responses`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import ledger
from app.db import write_transaction
from app.domain.purchases import set_status
from app.extensions import db
from app.models import AuditLog, Purchase, PurchaseStatus
from app.payments import reconcile as reconcile_module
from app.payments.reconcile import parse_duration, run_lock
from tests.helpers.builders import make_purchase, make_user
from tests.helpers.stripe_events import deliver, event_for, session_object


def fake_session(fake, purchase: Purchase, **fields) -> dict:
    obj = {**session_object(purchase, payment_intent=None, status="open", payment_status="unpaid")}
    obj.update(fields, expires_at=fields.get("expires_at", 4102444800))
    fake.objects[obj["id"]] = obj
    return obj


def reconcile(runner, *args: str):
    return runner.invoke(args=["credits", "reconcile", *args])


def test_durations():
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("72h").total_seconds() == 72 * 3600
    assert parse_duration("7d").days == 7
    for bad in ("", "7", "h", "0h", "-1d", "3w", "1.5h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_bad_since_is_a_usage_error(runner, stripe_fake):
    result = reconcile(runner, "--since", "soon")
    assert result.exit_code == 2 and "duration" in result.output


def test_no_drift_exits_0(app, runner, stripe_fake):
    result = reconcile(runner)
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_paid_but_not_credited_is_reported_then_repaired(app, runner, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        intent = stripe_fake.add_charge(purchase.amount_cents)
        fake_session(
            stripe_fake, purchase, status="complete", payment_status="paid", payment_intent=intent
        )
        public_id, user_id = purchase.public_id, purchase.user_id
    report = reconcile(runner)
    assert report.exit_code == 1
    assert "paid_not_credited" in report.output and public_id in report.output
    assert "--apply" in report.output
    applied = reconcile(runner, "--apply")
    assert applied.exit_code == 0, applied.output
    assert "credited" in applied.output
    with app.app_context():
        assert ledger.balance(user_id) == 1000
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "reconcile.repaired"))
    again = reconcile(runner)
    assert again.exit_code == 0 and "no drift" in again.output


def test_reconcile_called_without_a_progress_bar_checks_every_session(app, stripe_fake):
    # As a scheduled job calls it: no `bar=`, so the default passes the sessions through.
    with app.app_context():
        purchase = make_purchase(make_user())
        intent = stripe_fake.add_charge(purchase.amount_cents)
        fake_session(
            stripe_fake, purchase, status="complete", payment_status="paid", payment_intent=intent
        )
        report = reconcile_module.reconcile(timedelta(hours=72))
        assert [(item.kind, item.purchase.id) for item in report.items] == [
            ("paid_not_credited", purchase.id)
        ]
        assert ledger.balance(purchase.user_id) == 0


def test_refunded_and_disputed_but_not_taken_back(app, client, runner, stripe_fake):
    with app.app_context():
        buyers = []
        for n, code in enumerate(("pro", "basic")):
            purchase = make_purchase(make_user(f"b{n}@example.com"), code)
            intent = stripe_fake.add_charge(purchase.amount_cents)
            session = fake_session(
                stripe_fake,
                purchase,
                status="complete",
                payment_status="paid",
                payment_intent=intent,
            )
            deliver(client, event_for(session, "checkout.session.completed"))
            buyers.append((purchase.user_id, intent))
    (refunded_user, refunded_intent), (disputed_user, disputed_intent) = buyers
    stripe_fake.refund(refunded_intent, 4250)  # the charge.refunded event is lost
    stripe_fake.dispute(disputed_intent)  # so is charge.dispute.created
    report = reconcile(runner)
    assert report.exit_code == 1 and report.output.count("not_taken_back") == 2
    assert reconcile(runner, "--apply").exit_code == 0
    with app.app_context():
        assert ledger.balance(refunded_user) == 500
        assert ledger.balance(disputed_user) == 0
        assert ledger.verify() == []
    assert reconcile(runner).exit_code == 0


def test_pending_past_expiry_is_expired(app, runner, stripe_fake):
    from datetime import timedelta

    from app.models import utcnow

    with app.app_context():
        purchase = make_purchase(make_user())
        purchase.checkout_expires_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        fake_session(stripe_fake, purchase, status="open")
        public_id = purchase.public_id
    report = reconcile(runner)
    assert report.exit_code == 1 and "pending_past_expiry" in report.output
    assert reconcile(runner, "--apply").exit_code == 0
    assert stripe_fake.calls_to("POST", r"/expire$")[0][3].startswith("credits-expire:")
    with app.app_context():
        assert (
            db.session.scalar(select(Purchase.status).where(Purchase.public_id == public_id))
            == "expired"
        )


def test_credited_but_not_paid_is_marked_for_review_never_debited(app, client, runner, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        deliver(client, event_for(session_object(purchase), "checkout.session.completed"))
        fake_session(
            stripe_fake, purchase, status="open", payment_status="unpaid"
        )  # Stripe's truth
        public_id, user_id = purchase.public_id, purchase.user_id
    report = reconcile(runner)
    assert report.exit_code == 1 and "credited_not_paid" in report.output
    applied = reconcile(runner, "--apply")
    assert applied.exit_code == 0, (
        applied.output
    )  # needs_review is listed but does not fail the run
    with app.app_context():
        row = db.session.scalar(select(Purchase).where(Purchase.public_id == public_id))
        assert row.status == "needs_review"
        assert row.review_reason.startswith("reconcile: credited, but Stripe shows")
        assert ledger.balance(user_id) == 1000  # never auto-debited
    listed = reconcile(runner)
    assert listed.exit_code == 0 and "needs_review" in listed.output


def test_failed_event_deliveries_are_looked_at(app, runner, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        intent = stripe_fake.add_charge(purchase.amount_cents)
        session = fake_session(
            stripe_fake, purchase, status="complete", payment_status="paid", payment_intent=intent
        )
        user_id = purchase.user_id
    session["created"] = 946684800  # older than the window: only the failed event points at it
    stripe_fake.failed_events.append(event_for(session, "checkout.session.completed"))
    assert reconcile(runner, "--apply").exit_code == 0
    with app.app_context():
        assert ledger.balance(user_id) == 1000


def test_stripe_unreachable_exits_2(app, runner, stripe_fake):
    stripe_fake.fail_next["list_checkout.session"] = 1
    result = reconcile(runner)
    assert result.exit_code == 2 and "Stripe cannot be reached" in result.output


def test_an_overlapping_run_exits_3(db_app, stripe_fake):
    runner = db_app.test_cli_runner()
    with db_app.app_context(), run_lock():
        result = runner.invoke(args=["credits", "reconcile"])
    assert result.exit_code == 3 and "in progress" in result.output
    assert runner.invoke(args=["credits", "reconcile"]).exit_code == 0


def audits(public_id: str) -> list[AuditLog]:
    return db.session.scalars(
        select(AuditLog).where(AuditLog.subject_id == public_id).order_by(AuditLog.id)
    ).all()


def test_a_repair_is_audited_as_reconcile_with_its_kind_result_and_detail(app, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        intent = stripe_fake.add_charge(purchase.amount_cents)
        session = fake_session(
            stripe_fake, purchase, status="complete", payment_status="paid", payment_intent=intent
        )
        report = reconcile_module.reconcile(timedelta(hours=72), apply=True)
        detail = f"Stripe shows {session['id']} paid; ours is pending"
        assert [(i.kind, i.detail, i.result, i.resolved) for i in report.items] == [
            ("paid_not_credited", detail, "credited", True)
        ]
        rows = audits(purchase.public_id)
        (repaired,) = [r for r in rows if r.action == "reconcile.repaired"]
        assert (repaired.actor, repaired.subject_type) == ("reconcile", "purchase")
        assert repaired.after == {"kind": "paid_not_credited", "result": "credited"}
        assert repaired.note == detail
        changed = [r for r in rows if r.action == "purchase.status_changed"]
        assert [(r.actor, r.after["status"]) for r in changed] == [("reconcile", "completed")]


def test_marking_for_review_is_audited_as_reconcile(app, client, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        deliver(client, event_for(session_object(purchase), "checkout.session.completed"))
        fake_session(stripe_fake, purchase, status="open", payment_status="unpaid")
        report = reconcile_module.reconcile(timedelta(hours=72), apply=True)
        (item,) = report.items
        assert (item.kind, item.result, item.resolved) == (
            "credited_not_paid",
            "marked needs_review",
            True,
        )
        changed = [r for r in audits(purchase.public_id) if r.action == "purchase.status_changed"]
        assert (changed[-1].actor, changed[-1].after, changed[-1].note) == (
            "reconcile",
            {"status": "needs_review"},
            "credited, not paid at Stripe",
        )
        again = reconcile_module.reconcile(timedelta(hours=72))
        assert [(i.kind, i.result, i.resolved) for i in again.items] == [
            ("needs_review", "needs review", True)
        ]


def test_a_paid_session_of_a_purchase_under_review_is_listed_once_as_it_is(app, stripe_fake):
    with app.app_context():
        purchase = make_purchase(make_user())
        with write_transaction():
            set_status(purchase, PurchaseStatus.NEEDS_REVIEW, "test", review_reason="amount 1")
        intent = stripe_fake.add_charge(purchase.amount_cents)
        fake_session(
            stripe_fake, purchase, status="complete", payment_status="paid", payment_intent=intent
        )
        report = reconcile_module.reconcile(timedelta(hours=72))
        assert [(i.kind, i.purchase.id, i.detail, i.result, i.resolved) for i in report.items] == [
            ("paid_not_credited", purchase.id, "paid, amount 1", "needs review", True)
        ]
        assert ledger.balance(purchase.user_id) == 0
        assert not [r for r in audits(purchase.public_id) if r.action == "reconcile.repaired"]
