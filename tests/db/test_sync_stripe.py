"""`flask credits sync-stripe`: one Product and one Price per pack, reruns create nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CreditPackage


def writes(fake) -> list:
    return [c for c in fake.calls if c[0] == "POST"]


def test_first_run_creates_a_product_and_price_per_pack(app, runner, stripe_fake):
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 0, result.output
    assert "[1/5] starter: create product 'Starter Pack'" in result.output
    assert "[5/5] enterprise: create price 75000 usd" in result.output
    assert len(stripe_fake.calls_to("POST", r"/v1/products$")) == 5
    prices = stripe_fake.calls_to("POST", r"/v1/prices$")
    assert len(prices) == 5
    assert all(key for (_, _, _, key) in writes(stripe_fake)), (
        "every Stripe write carries an idempotency key"
    )
    pro = [p for (_, _, p, _) in prices if p["lookup_key"] == "credits_pro"][0]
    assert pro["unit_amount"] == "8500" and pro["currency"] == "usd"
    with app.app_context():
        packs = db.session.scalars(select(CreditPackage)).all()
        assert all(p.stripe_product_id and p.stripe_price_id for p in packs)


def test_second_run_creates_nothing(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    before = len(writes(stripe_fake))
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 0
    assert len(writes(stripe_fake)) == before
    assert result.output.count("up to date") == 5
    assert "done: 0 change(s) made" in result.output


def test_dry_run_prints_and_changes_nothing(app, runner, stripe_fake):
    result = runner.invoke(args=["credits", "sync-stripe", "--dry-run"])
    assert result.exit_code == 0
    assert "[3/5] pro: would create product 'Pro Pack'" in result.output
    assert "dry run: 10 change(s) would be made" in result.output
    assert writes(stripe_fake) == []
    with app.app_context():
        assert all(p.stripe_price_id is None for p in db.session.scalars(select(CreditPackage)))


def test_a_changed_price_gets_a_new_price_and_the_old_one_is_archived(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        old_price = pro.stripe_price_id
        pro.price_cents = 7900
        db.session.commit()
    dry = runner.invoke(args=["credits", "sync-stripe", "--dry-run"])
    assert "pro: would create price 7900 usd" in dry.output
    assert f"pro: would archive price {old_price}" in dry.output
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert "pro: create price 7900 usd" in result.output
    assert f"pro: archive price {old_price}" in result.output
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        assert pro.stripe_price_id != old_price
    new = stripe_fake.objects[pro.stripe_price_id]
    assert new["unit_amount"] == 7900 and new["lookup_key"] == "credits_pro"
    assert stripe_fake.objects[old_price]["active"] is False
    assert stripe_fake.objects[old_price]["lookup_key"] is None
    again = runner.invoke(args=["credits", "sync-stripe"])
    assert again.output.count("up to date") == 5


def test_a_renamed_pack_updates_its_product(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        pro.name = "Pro Pack Plus"
        product_id = pro.stripe_product_id
        db.session.commit()
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert "pro: update product" in result.output and "(name)" in result.output
    assert stripe_fake.objects[product_id]["name"] == "Pro Pack Plus"


def test_products_are_found_again_without_stored_ids(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    with app.app_context():
        for pack in db.session.scalars(select(CreditPackage)):
            pack.stripe_product_id = pack.stripe_price_id = None
        db.session.commit()
    before = len(writes(stripe_fake))
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert len(writes(stripe_fake)) == before
    assert result.output.count("link product") == 5


def test_stripe_failure_exits_1_with_a_message(app, runner, stripe_fake):
    stripe_fake.fail_next["create_product"] = 1
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 1
    assert "payment provider is unavailable" in result.output


def point_pro_at_a_stray_price(app, stripe_fake) -> str:
    """Give pro a stored Price id that no longer carries its lookup key; return that id."""
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        _, stray = stripe_fake.create_price(
            {"currency": "usd", "unit_amount": "8500", "product": pro.stripe_product_id}
        )
        pro.stripe_price_id = stray["id"]
        db.session.commit()
    return stray["id"]


def test_a_stored_price_that_lost_its_lookup_key_is_fetched_and_archived(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    stray = point_pro_at_a_stray_price(app, stripe_fake)
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 0, result.output
    assert f"pro: archive price {stray}" in result.output
    assert len(stripe_fake.calls_to("GET", rf"/v1/prices/{stray}$")) == 1
    (archive,) = stripe_fake.calls_to("POST", rf"/v1/prices/{stray}$")
    assert archive[2] == {"active": "false"}
    assert archive[3] == f"credits-sync:archive:{stray}"
    assert stripe_fake.objects[stray]["active"] is False
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        assert pro.stripe_price_id != stray
        stored = pro.stripe_price_id
    assert stripe_fake.calls_to("GET", rf"/v1/prices/{stored}$") == [], (
        "the Price found by its lookup key is not fetched again"
    )


def test_a_stored_price_archived_already_is_left_alone(app, runner, stripe_fake):
    runner.invoke(args=["credits", "sync-stripe"])
    stray = point_pro_at_a_stray_price(app, stripe_fake)
    stripe_fake.objects[stray]["active"] = False
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 0, result.output
    assert "archive price" not in result.output
    assert stripe_fake.calls_to("POST", rf"/v1/prices/{stray}$") == []


@pytest.mark.parametrize(
    ("method", "handler", "label"),
    [("GET", "retrieve", "retrieve price"), ("POST", "update", "archive price")],
)
def test_a_failed_archive_step_is_logged_by_name(
    app, runner, stripe_fake, caplog, method, handler, label
):
    runner.invoke(args=["credits", "sync-stripe"])
    stray = point_pro_at_a_stray_price(app, stripe_fake)

    def fail_the_stray_price(called: str, path: str) -> None:
        if (called, path) == (method, f"/v1/prices/{stray}"):
            stripe_fake.fail_next[handler] = 1

    stripe_fake.on_call = fail_the_stray_price
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 1
    assert f"Stripe call failed: {label}: " in caplog.text


def test_stripe_requests_are_logged_only_with_verbose(app, runner, stripe_fake, caplog):
    import logging

    caplog.set_level(logging.INFO)
    runner.invoke(args=["credits", "sync-stripe", "--dry-run"])
    assert not [r for r in caplog.records if r.name == "stripe"]
    runner.invoke(args=["credits", "sync-stripe", "--dry-run", "--verbose"])
    assert any("Request to Stripe api" in r.getMessage() for r in caplog.records)
    logging.getLogger("stripe").setLevel(logging.NOTSET)
