"""The caller's balance, purchase history and ledger movements: pages and JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import ledger
from app.db import Page, parse_limit
from app.domain.purchases import purchase_public_ids, user_purchases
from app.domain.spending import spend, validate_spend
from app.models import OPEN_STATUSES, Purchase
from app.payments.checkout_sessions import purchase_status
from app.web.api_shapes import movement_json, page_json, purchase_json, spend_json
from app.web.history.queries import movement_page, purchase_page
from app.web.responses import is_htmx, page_or_partial

bp = Blueprint("history", __name__)


def _row_context(purchase: Purchase, *, balance: int | None = None) -> dict:
    """Build what one purchase row shows; an open purchase keeps polling. With the balance,
    the row also updates the header balance in the same swap (it just completed or failed)."""
    context = {"purchase": purchase, "polling": purchase.status in OPEN_STATUSES}
    if balance is not None:
        context.update(oob_balance=True, balance=balance)
    return context


def _purchases_context(page: Page, cursor: str | None) -> dict:
    """Build what the purchase history partial shows."""
    return {"rows": [_row_context(p) for p in page.items], "page": page, "cursor": cursor}


def _transactions_context(page: Page, cursor: str | None) -> dict:
    """Build what the transactions partial shows."""
    return {"page": page, "cursor": cursor}


@bp.get("/credits/history")
@login_required
def purchases():
    """Show the caller's purchases, newest first, a page at a time."""
    cursor = request.args.get("cursor")
    context = _purchases_context(
        purchase_page(current_user, request.args.get("limit"), cursor), cursor
    )
    return page_or_partial("history/purchases.html", "history/_purchases.html", **context)


@bp.get("/credits/history/<purchase_id>/row")
@login_required
def purchase_row(purchase_id: str):
    """Return one purchase's history row; 204 while its status is what the page shows."""
    if not is_htmx():
        return redirect(url_for("checkout.status", purchase_id=purchase_id))
    purchase, balance = purchase_status(current_user, purchase_id)
    if request.args.get("seen") == purchase.status:
        # Nothing new: no swap, so screen readers are not told the same thing again.
        return "", 204
    return render_template("history/_purchase_row.html", **_row_context(purchase, balance=balance))


@bp.get("/credits/transactions")
@login_required
def transactions():
    """Show the caller's ledger movements with the balance after each, newest first."""
    cursor = request.args.get("cursor")
    context = _transactions_context(
        movement_page(current_user, request.args.get("limit"), cursor), cursor
    )
    return page_or_partial("history/transactions.html", "history/_transactions.html", **context)


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
    return jsonify(page_json([purchase_json(p) for p in page.items], page.next_cursor))


@bp.get("/api/v1/billing/credits/purchases/<purchase_id>")
@login_required
def api_purchase(purchase_id: str):
    """Return one of the caller's purchases (refreshed from Stripe while unpaid)."""
    purchase, _ = purchase_status(current_user, purchase_id)
    return jsonify(purchase_json(purchase))


@bp.get("/api/v1/billing/credits/transactions")
@login_required
def api_transactions():
    """List the caller's ledger movements with the balance after each, newest first."""
    page = ledger.movements(
        current_user.id, parse_limit(request.args.get("limit")), request.args.get("cursor")
    )
    ids = purchase_public_ids({e.transaction.purchase_id for e in page.items})
    return jsonify(page_json([movement_json(e, ids) for e in page.items], page.next_cursor))


@bp.post("/api/v1/billing/credits/spend")
@login_required
def api_spend():
    """Spend credits once per idempotency key; never below zero."""
    amount, key, description = validate_spend(request.get_json(silent=True))
    result = spend(current_user, amount, key, description)
    return jsonify(spend_json(result)), 201 if result.created else 200
