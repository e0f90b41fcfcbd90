"""Buying a pack: start Checkout, come back, watch the status, cancel or resume."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import ledger
from app.domain import purchases
from app.errors import ValidationFailed
from app.extensions import limiter
from app.models import OPEN_STATUSES, Purchase
from app.payments import checkout_sessions
from app.web.api_shapes import checkout_json
from app.web.responses import htmx_redirect, is_htmx

bp = Blueprint("checkout", __name__)


def _purchase_limit() -> str:
    return current_app.config.get("PURCHASE_RATE_LIMIT", "10 per minute")


def _user_key() -> str:
    return f"purchase:user:{current_user.get_id()}"


def _anonymous() -> bool:
    return not current_user.is_authenticated


purchase_limit = limiter.limit(_purchase_limit, key_func=_user_key, exempt_when=_anonymous)


@bp.post("/api/v1/billing/credits/purchase")
@purchase_limit
@login_required
def api_purchase():
    """Start a purchase of a pack and return its Checkout address."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "package_code" not in body:
        raise ValidationFailed('send a JSON body like {"package_code": "pro"}')
    code = body["package_code"]
    if not isinstance(code, str) or not code.strip():
        raise ValidationFailed("package_code must be a non-empty string")
    purchase, created = checkout_sessions.start_purchase(current_user, code)
    return jsonify(checkout_json(purchase)), 201 if created else 200


@bp.post("/credits/purchase")
@purchase_limit
@login_required
def purchase_form():
    """Start a purchase from the buy page and send the browser to Checkout."""
    code = request.form.get("package_code", "")
    if not code.strip():
        raise ValidationFailed("Choose a credit pack to buy.")
    purchase, _ = checkout_sessions.start_purchase(current_user, code)
    if is_htmx():
        return htmx_redirect(purchase.checkout_url)
    return redirect(purchase.checkout_url, 303)


def _status_context(
    purchase: Purchase, *, oob_balance: bool = False, balance: int | None = None
) -> dict:
    """Build what the status partial shows; an open purchase keeps polling."""
    return {
        "purchase": purchase,
        "polling": purchase.status in OPEN_STATUSES,
        "oob_balance": oob_balance,
        "balance": ledger.balance(purchase.user_id) if balance is None else balance,
    }


@bp.get("/credits/purchase/success")
@login_required
def success():
    """Show the purchase a Checkout Session belongs to, with its live status."""
    purchase = purchases.purchase_for_session(current_user, request.args.get("session_id"))
    return render_template("checkout/success.html", **_status_context(purchase))


@bp.get("/credits/purchase/<purchase_id>/status")
@login_required
def status(purchase_id: str):
    """Return the status partial (or page), asking Stripe while the purchase awaits payment."""
    purchase, balance = checkout_sessions.purchase_status(current_user, purchase_id)
    if not is_htmx():
        return render_template(
            "checkout/success.html", **_status_context(purchase, balance=balance)
        )
    if request.args.get("seen") == purchase.status:
        # Nothing new: no swap, so screen readers are not told the same thing again.
        return "", 204
    context = _status_context(purchase, oob_balance=True, balance=balance)
    return render_template("checkout/_status.html", **context)


@bp.get("/credits/purchase/cancel")
@login_required
def cancel_page():
    """Show an unpaid purchase with the choice to resume or cancel it."""
    purchase = purchases.owned_purchase(current_user, request.args.get("purchase_id"))
    return render_template("checkout/cancel.html", **_status_context(purchase))


@bp.post("/credits/purchase/<purchase_id>/cancel")
@login_required
def cancel(purchase_id: str):
    """Cancel an unpaid purchase (its session is expired at Stripe)."""
    purchase = checkout_sessions.cancel_purchase(current_user, purchase_id)
    return redirect(url_for("checkout.cancel_page", purchase_id=purchase.public_id), 303)
