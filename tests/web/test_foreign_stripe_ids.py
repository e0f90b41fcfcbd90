"""Packs linked to ids this Stripe account does not have: buying says what to run, and the
catalogue sync repairs the links instead of failing."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from app.domain import users
from app.extensions import db
from app.models import CreditPackage
from tests.helpers.builders import make_user, sync_packs


def link_pro_elsewhere() -> None:
    db.session.execute(
        update(CreditPackage)
        .where(CreditPackage.code == "pro")
        .values(stripe_product_id="prod_elsewhere", stripe_price_id="price_elsewhere")
    )
    db.session.commit()


def test_buying_a_pack_whose_price_stripe_lacks_names_the_pack_and_the_fix(
    app, client, stripe_fake, caplog
):
    with app.app_context():
        sync_packs()
        link_pro_elsewhere()
        token = users.issue_token(make_user())
    response = client.post(
        "/api/v1/billing/credits/purchase",
        json={"package_code": "pro"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 502 and "cannot be bought" in response.json["error"]["message"]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("pack pro" in m and "flask credits sync-stripe" in m for m in logged), logged


def test_sync_stripe_replaces_links_to_objects_stripe_lacks(app, runner, stripe_fake):
    with app.app_context():
        sync_packs()
        link_pro_elsewhere()
    result = runner.invoke(args=["credits", "sync-stripe"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        pro = db.session.scalar(select(CreditPackage).where(CreditPackage.code == "pro"))
        assert pro.stripe_product_id in stripe_fake.objects
        assert pro.stripe_price_id in stripe_fake.objects
