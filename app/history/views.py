"""The caller's balance and purchase history."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_required

from .. import ledger
from ..pagination import parse_limit
from ..payments.checkout import owned_purchase
from ..payments.fulfilment import refresh_from_stripe
from ..purchases import purchase_json, purchase_public_ids, user_purchases
from ..spending import spend, validate_spend

bp = Blueprint("history", __name__)


@bp.get("/api/v1/billing/credits/balance")
@login_required
def api_balance():
    """Return the caller's balance in credits."""
    return jsonify({"balance": ledger.balance(current_user.id)})


@bp.get("/api/v1/billing/credits/purchases")
@login_required
def api_purchases():
    """List the caller's purchases, newest first."""
    page = user_purchases(
        current_user, parse_limit(request.args.get("limit")), request.args.get("cursor")
    )
    return jsonify(
        {"data": [purchase_json(p) for p in page.items], "next_cursor": page.next_cursor}
    )


@bp.get("/api/v1/billing/credits/purchases/<purchase_id>")
@login_required
def api_purchase(purchase_id: str):
    """Return one of the caller's purchases (refreshed from Stripe while unpaid)."""
    purchase = refresh_from_stripe(owned_purchase(current_user, purchase_id))
    return jsonify(purchase_json(purchase))


@bp.get("/api/v1/billing/credits/transactions")
@login_required
def api_transactions():
    """List the caller's ledger movements with the balance after each, newest first."""
    page = ledger.movements(
        current_user.id, parse_limit(request.args.get("limit")), request.args.get("cursor")
    )
    ids = purchase_public_ids({e.transaction.purchase_id for e in page.items})
    return jsonify(
        {
            "data": [ledger.movement_json(e, ids) for e in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@bp.post("/api/v1/billing/credits/spend")
@login_required
def api_spend():
    """Spend credits once per idempotency key; never below zero."""
    amount, key, description = validate_spend(request.get_json(silent=True))
    result = spend(current_user, amount, key, description)
    body = {"balance": result.balance, "transaction_id": result.transaction_id}
    return jsonify(body), 201 if result.created else 200
