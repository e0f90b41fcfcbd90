"""Rows as the app would write them: users with the shared password, purchases, synced packs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.ledger import ensure_account, user_account
from app.models import CreditPackage, Purchase, PurchaseStatus, User

PASSWORD = "correct-horse-battery"
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt")


def make_user(email: str = "buyer@example.com", *, admin: bool = False) -> User:
    """Create a user with the shared test password (hashed once per run)."""
    user = User(email=email, is_admin=admin, password_hash=PASSWORD_HASH)
    db.session.add(user)
    db.session.flush()
    ensure_account(user_account(user.id), user.id)
    db.session.commit()
    return user


def sync_packs() -> None:
    """Run the catalogue sync (against whatever Stripe the app is pointed at)."""
    from app.payments.catalog_sync import sync_stripe

    sync_stripe(echo=lambda _line: None)


def make_purchase(
    user: User,
    code: str = "pro",
    *,
    status: PurchaseStatus = PurchaseStatus.PENDING,
    session_id: str | None = None,
) -> Purchase:
    """Write a purchase row as start_purchase would after Stripe answered."""
    package = db.session.scalar(select(CreditPackage).where(CreditPackage.code == code))
    purchase = Purchase.of_package(
        user.id,
        package,
        status=status,
        stripe_checkout_session_id=session_id or f"cs_test_{uuid.uuid4().hex[:16]}",
    )
    db.session.add(purchase)
    db.session.commit()
    return purchase
