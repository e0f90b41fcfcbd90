"""Start, resume and cancel purchases through Stripe Checkout."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import stripe
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import ledger
from app.db import write_transaction
from app.domain import audit
from app.domain.packs import get_active_package
from app.domain.purchases import (
    lock_purchase,
    owned_purchase,
    owned_purchase_with_balance,
    set_status,
)
from app.errors import StripeUnavailable
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    CreditPackage,
    Purchase,
    PurchaseStatus,
    User,
    utcnow,
)
from app.payments.client import call_stripe, is_missing, stripe_client
from app.payments.fulfilment import refresh_from_stripe

log = logging.getLogger(__name__)

# A session this close to its expiry is not offered again; a new one is made instead.
REUSE_MARGIN = timedelta(minutes=2)


def ensure_customer(user: User) -> str:
    """Return the user's Stripe Customer id, creating the Customer once."""
    if user.stripe_customer_id:
        return user.stripe_customer_id
    client = stripe_client()
    customer = call_stripe(
        "create customer",
        lambda: client.v1.customers.create(
            {"email": user.email, "metadata": {"user_id": str(user.id)}},
            {"idempotency_key": f"credits-customer:{user.id}"},
        ),
    )
    with write_transaction() as session:
        session.execute(
            update(User)
            .where(User.id == user.id, User.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer.id)
        )
    db.session.refresh(user)
    return user.stripe_customer_id or customer.id


def _expires_at(purchase: Purchase) -> datetime:
    minutes = current_app.config.get("CHECKOUT_EXPIRY_MINUTES", 60)
    return purchase.created_at.replace(microsecond=0) + timedelta(minutes=minutes)


def _session_params(purchase: Purchase, package: CreditPackage, customer_id: str) -> dict:
    base = current_app.config["APP_BASE_URL"]
    return {
        "mode": "payment",
        "line_items": [{"price": package.stripe_price_id, "quantity": 1}],
        "client_reference_id": purchase.public_id,
        "customer": customer_id,
        "metadata": {
            "purchase_id": purchase.public_id,
            "package_code": purchase.package_code,
            "user_id": str(purchase.user_id),
        },
        "payment_intent_data": {"metadata": {"purchase_id": purchase.public_id}},
        "success_url": f"{base}/credits/purchase/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/credits/purchase/cancel?purchase_id={purchase.public_id}",
        "expires_at": int(_expires_at(purchase).timestamp()),
    }


def _open_purchase(user: User, code: str) -> Purchase | None:
    return db.session.scalar(
        select(Purchase).where(
            Purchase.user_id == user.id,
            Purchase.package_code == code,
            Purchase.status == PurchaseStatus.PENDING,
        )
    )


def _claim_purchase(user: User, package: CreditPackage) -> tuple[Purchase, bool]:
    """Return the user's open purchase of this pack, or write a new pending one."""
    with write_transaction() as session:
        existing = _open_purchase(user, package.code)
        if existing is not None:
            fresh = existing.checkout_expires_at is None or (
                existing.checkout_expires_at > utcnow() + REUSE_MARGIN
            )
            if fresh:
                return existing, False
            set_status(existing, PurchaseStatus.EXPIRED, "system", "session passed its expiry")
            session.flush()
        purchase = Purchase.of_package(user.id, package, status=PurchaseStatus.PENDING)
        session.add(purchase)
        session.flush()
        audit.record(
            f"user:{user.id}",
            "purchase.created",
            "purchase",
            purchase.public_id,
            after={
                "package": package.code,
                "credits": package.credits,
                "amount_cents": package.price_cents,
                "currency": package.currency,
            },
        )
    return purchase, True


def start_purchase(user: User, package_code: object) -> tuple[Purchase, bool]:
    """Create (or return the open) Checkout Session for a pack; True when it is new.

    The pending purchase is written first, so a crash after Stripe answers still
    leaves a row that the webhook or reconciliation can complete.
    """
    package = get_active_package(package_code)
    if not package.stripe_price_id:
        log.error("pack %s has no Stripe Price: run `flask credits sync-stripe`", package.code)
        raise StripeUnavailable(
            "This pack cannot be bought right now; nothing was charged. Try again later."
        )
    try:
        purchase, created = _claim_purchase(user, package)
    except IntegrityError:
        # A concurrent request for the same pack won the race; use its purchase.
        db.session.rollback()
        purchase, created = _open_purchase(user, package.code), False
        if purchase is None:
            raise
    if purchase.stripe_checkout_session_id is None and not created:
        _wait_for_session(purchase)
    if purchase.stripe_checkout_session_id is None:
        _create_session(purchase, package, user)
    return purchase, created


def _wait_for_session(purchase: Purchase, seconds: float = 5.0) -> None:
    """Give a concurrent request for the same purchase a moment to record its session."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.commit()
        db.session.refresh(purchase)
        if purchase.stripe_checkout_session_id or purchase.status != PurchaseStatus.PENDING:
            return
        time.sleep(0.1)


def _create_session(purchase: Purchase, package: CreditPackage, user: User) -> None:
    client = stripe_client()
    try:
        customer_id = ensure_customer(user)
        params = _session_params(purchase, package, customer_id)
        session_obj = call_stripe(
            "create checkout session",
            lambda: client.v1.checkout.sessions.create(
                params, {"idempotency_key": f"credits-checkout:{purchase.public_id}"}
            ),
        )
    except StripeUnavailable as exc:
        with write_transaction():
            row = lock_purchase(purchase.id)
            if row.status == PurchaseStatus.PENDING and row.stripe_checkout_session_id is None:
                set_status(row, PurchaseStatus.FAILED, "system", "Stripe did not create a session")
        if is_missing(exc):
            log.error(
                "pack %s names price %s, which Stripe does not have: "
                "run `flask credits sync-stripe`",
                package.code,
                package.stripe_price_id,
            )
            raise StripeUnavailable(
                "This pack cannot be bought right now; nothing was charged. Try again later."
            ) from exc
        raise
    with write_transaction():
        row = lock_purchase(purchase.id)
        row.stripe_checkout_session_id = session_obj.id
        row.checkout_url = session_obj.url
        row.checkout_expires_at = datetime.fromtimestamp(session_obj.expires_at, UTC)
    db.session.refresh(purchase)


def purchase_status(user: User, public_id: object) -> tuple[Purchase, int]:
    """Return the user's purchase and balance, read together in one statement; while the
    purchase awaits payment it is refreshed from Stripe (and the balance read again if that
    completed it). Anyone else's purchase is NotFound."""
    purchase, balance = owned_purchase_with_balance(user, public_id)
    if purchase.status in OPEN_STATUSES:
        purchase = refresh_from_stripe(purchase)
        if purchase.status not in OPEN_STATUSES:
            balance = ledger.balance(user.id)
    return purchase, int(balance or 0)


def cancel_purchase(user: User, public_id: object) -> Purchase:
    """Expire an unpaid purchase's session at Stripe and mark the purchase canceled."""
    from app.payments.fulfilment import fulfil_checkout

    purchase = owned_purchase(user, public_id)
    if purchase.status != PurchaseStatus.PENDING:
        return purchase
    if purchase.stripe_checkout_session_id:
        client = stripe_client()
        session_id = purchase.stripe_checkout_session_id
        try:
            call_stripe(
                "expire checkout session",
                lambda: client.v1.checkout.sessions.expire(
                    session_id, options={"idempotency_key": f"credits-expire:{session_id}"}
                ),
            )
        except StripeUnavailable as exc:
            if not isinstance(exc.__cause__, stripe.InvalidRequestError):
                raise
            # Already complete or expired at Stripe: settle from Stripe's own view.
            session_obj = call_stripe(
                "retrieve checkout session",
                lambda: client.v1.checkout.sessions.retrieve(session_id),
            )
            fulfil_checkout(session_obj, source="cancel")
            db.session.refresh(purchase)
            if purchase.status != PurchaseStatus.PENDING:
                return purchase
    with write_transaction():
        row = lock_purchase(purchase.id)
        if row.status == PurchaseStatus.PENDING:
            set_status(row, PurchaseStatus.CANCELED, f"user:{user.id}", "canceled by the buyer")
    db.session.refresh(purchase)
    return purchase
