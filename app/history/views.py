"""The caller's balance and purchase history."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from .. import ledger

bp = Blueprint("history", __name__)


@bp.get("/api/v1/billing/credits/balance")
@login_required
def api_balance():
    """Return the caller's balance in credits."""
    return jsonify({"balance": ledger.balance(current_user.id)})
