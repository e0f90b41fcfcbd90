"""The flask CLI: seeding, users, tokens, grants, balances and verify-ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.ledger import user_account
from app.models import ApiToken, CreditPackage, LedgerAccount, User

EXPECTED_PACKS = [
    ("starter", 100, 1000, 0, None),
    ("basic", 500, 4500, 10, None),
    ("pro", 1000, 8500, 15, "Popular"),
    ("premium", 2500, 20000, 20, None),
    ("enterprise", 10000, 75000, 25, "Best value"),
]


def packs() -> list[tuple]:
    rows = db.session.scalars(select(CreditPackage).order_by(CreditPackage.display_order))
    return [(p.code, p.credits, p.price_cents, p.discount_percent, p.badge) for p in rows]


def test_seeding_twice_gives_the_same_five_packs(app, runner):
    first = runner.invoke(args=["credits", "seed-packages"])
    assert first.exit_code == 0, first.output
    assert "unchanged" in first.output  # the fixture already seeded once
    with app.app_context():
        ids = [p.id for p in db.session.scalars(select(CreditPackage))]
        assert packs() == EXPECTED_PACKS
        assert {p.currency for p in db.session.scalars(select(CreditPackage))} == {"usd"}
    second = runner.invoke(args=["credits", "seed-packages"])
    assert second.exit_code == 0
    with app.app_context():
        assert packs() == EXPECTED_PACKS
        assert [p.id for p in db.session.scalars(select(CreditPackage))] == ids


def test_seeding_repairs_an_edited_pack(app, runner):
    with app.app_context():
        db.session.execute(
            update(CreditPackage)
            .where(CreditPackage.code == "pro")
            .values(price_cents=1, is_active=False)
        )
        db.session.commit()
    result = runner.invoke(args=["credits", "seed-packages"])
    assert "pro          updated" in result.output
    with app.app_context():
        assert packs() == EXPECTED_PACKS
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        assert pro.stripe_price_id is None  # the old Stripe Price charged another amount


def test_create_user_with_and_without_password(app, runner):
    result = runner.invoke(args=["users", "create", "Ann@Example.com", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    generated = runner.invoke(args=["users", "create", "boss@example.com", "--admin"])
    assert generated.exit_code == 0
    password = generated.output.strip().splitlines()[-1].removeprefix("password: ")
    with app.app_context():
        ann = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        boss = db.session.scalar(select(User).where(User.email == "boss@example.com"))
        assert ann.check_password("s3cret-pass") and not ann.is_admin
        assert boss.is_admin and boss.check_password(password)
    duplicate = runner.invoke(
        args=["users", "create", "ann@example.com", "--password", "another-pass"]
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output


def test_token_is_printed_last_and_stored_hashed(app, runner, client):
    runner.invoke(args=["users", "create", "t@example.com", "--password", "s3cret-pass"])
    result = runner.invoke(args=["users", "token", "t@example.com"])
    token = result.output.strip().splitlines()[-1]
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    response = client.get(
        "/api/v1/billing/credits/balance", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json == {"balance": 0}


def test_grant_balance_and_negative_grant(app, runner):
    runner.invoke(args=["users", "create", "g@example.com", "--password", "s3cret-pass"])
    assert (
        runner.invoke(
            args=["credits", "grant", "g@example.com", "--amount", "300", "--reason", "promo"]
        ).exit_code
        == 0
    )
    negative = runner.invoke(
        args=["credits", "grant", "g@example.com", "--amount", "-500", "--reason", "chargeback"]
    )
    assert negative.exit_code == 0, negative.output
    balance = runner.invoke(args=["credits", "balance", "g@example.com"])
    assert balance.output.strip().splitlines()[-1] == "-200"
    assert runner.invoke(args=["credits", "verify-ledger"]).exit_code == 0


def test_grant_errors_change_nothing(app, runner):
    runner.invoke(args=["users", "create", "g@example.com", "--password", "s3cret-pass"])
    assert (
        runner.invoke(
            args=["credits", "grant", "nobody@example.com", "--amount", "5", "--reason", "x"]
        ).exit_code
        == 1
    )
    zero = runner.invoke(
        args=["credits", "grant", "g@example.com", "--amount", "0", "--reason", "x"]
    )
    assert zero.exit_code == 1 and "non-zero" in zero.output
    assert runner.invoke(args=["credits", "balance", "g@example.com"]).output.strip() == "0"


@pytest.mark.broken_ledger
def test_verify_ledger_exits_1_on_a_planted_violation(app, runner):
    runner.invoke(args=["users", "create", "v@example.com", "--password", "s3cret-pass"])
    runner.invoke(args=["credits", "grant", "v@example.com", "--amount", "10", "--reason", "x"])
    assert runner.invoke(args=["credits", "verify-ledger"]).exit_code == 0
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == "v@example.com"))
        db.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.code == user_account(user_id))
            .values(balance=11)
        )
        db.session.commit()
    result = runner.invoke(args=["credits", "verify-ledger"])
    assert result.exit_code == 1
    assert "cached balance 11 != sum of entries 10" in result.output


def test_demo_users_are_idempotent(app, runner):
    first = runner.invoke(args=["users", "demo"])
    second = runner.invoke(args=["users", "demo"])
    assert first.exit_code == second.exit_code == 0
    assert "demo@example.com" in second.output and "admin@example.com" in second.output
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == 2
