"""The JSON API's shapes: what a pack, a purchase, a ledger movement, a refund, a spend and a
started checkout look like to API clients (snake_case, integer money, ISO 8601 UTC times)."""

from __future__ import annotations

from typing import Any

from app import ledger
from app.domain.formats import iso
from app.domain.spending import SpendResult
from app.domain.timeline import purchase_timeline
from app.models import CreditPackage, LedgerEntry, Purchase, RefundRequest
from app.payments.review import review_actions


def package_json(package: CreditPackage) -> dict[str, Any]:
    """Return the API shape of a pack."""
    return {
        "code": package.code,
        "name": package.name,
        "description": package.description,
        "credits": package.credits,
        "price_cents": package.price_cents,
        "currency": package.currency,
        "discount_percent": package.discount_percent,
        "badge": package.badge,
    }


def purchase_json(purchase: Purchase, *, with_email: bool = False) -> dict[str, Any]:
    """Return the API shape of a purchase."""
    data = {
        "id": purchase.public_id,
        "status": str(purchase.status),
        "package_code": purchase.package_code,
        "package_name": purchase.package_name,
        "credits": purchase.credits,
        "amount_cents": purchase.amount_cents,
        "currency": purchase.currency,
        "created_at": iso(purchase.created_at),
        "completed_at": iso(purchase.completed_at),
    }
    if with_email:
        data["user_email"] = purchase.user.email
    return data


def purchase_detail_json(purchase: Purchase) -> dict[str, Any]:
    """Return the admin's view of one purchase: its money, review state and timeline."""
    return {
        **purchase_json(purchase, with_email=True),
        "refunded_cents": purchase.refunded_cents,
        "dispute_status": purchase.dispute_status,
        "review_reason": purchase.review_reason,
        "review_actions": list(review_actions(purchase)),
        "buyer_balance": ledger.balance(purchase.user_id),
        "timeline": purchase_timeline(purchase),
    }


def checkout_json(purchase: Purchase) -> dict[str, Any]:
    """Return the API shape of a started (or resumed) Checkout purchase."""
    return {
        "checkout_url": purchase.checkout_url,
        "session_id": purchase.stripe_checkout_session_id,
        "purchase_id": purchase.public_id,
    }


def movement_json(entry: LedgerEntry, purchase_ids: dict[int, str]) -> dict[str, Any]:
    """Return the API shape of one ledger movement on a user's account."""
    txn = entry.transaction
    return {
        "id": entry.id,
        "transaction_id": txn.id,
        "kind": txn.kind,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "description": txn.description,
        "purchase_id": purchase_ids.get(txn.purchase_id) if txn.purchase_id else None,
        "created_at": iso(entry.created_at),
    }


def refund_json(purchase: Purchase, request: RefundRequest) -> dict[str, Any]:
    """Return the API shape of an admin refund."""
    return {
        "refund_id": request.stripe_refund_id,
        "purchase_id": purchase.public_id,
        "amount_cents": request.amount_cents,
        "currency": purchase.currency,
        "status": request.status,
    }


def spend_json(result: SpendResult) -> dict[str, Any]:
    """Return the API shape of a spend."""
    return {"balance": result.balance, "transaction_id": result.transaction_id}


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    """Return the API shape of one page of a list."""
    return {"data": items, "next_cursor": next_cursor}
