"""Admin views of every purchase."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..auth.views import admin_required
from ..purchases import PurchaseFilter, admin_purchases, parse_limit, purchase_json

bp = Blueprint("admin", __name__)


@bp.get("/api/v1/admin/billing/credits/purchases")
@admin_required
def api_purchases():
    """List every purchase with its buyer's email, filtered and newest first."""
    page = admin_purchases(
        PurchaseFilter.from_args(request.args),
        parse_limit(request.args.get("limit")),
        request.args.get("cursor"),
    )
    return jsonify(
        {
            "data": [purchase_json(p, with_email=True) for p in page.items],
            "next_cursor": page.next_cursor,
        }
    )
