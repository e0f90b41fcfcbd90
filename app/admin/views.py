"""Admin views of every purchase."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_login import current_user

from .. import ledger
from ..auth.views import admin_required
from ..errors import ValidationFailed
from ..models import utcnow
from ..pagination import parse_limit
from ..payments.refunds import refund_json, refund_purchase
from ..payments.review import resolve_review, review_actions
from ..purchases import PurchaseFilter, admin_purchases, find_purchase, purchase_json
from ..reports import csv_rows
from ..timeline import purchase_timeline

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


@bp.post("/api/v1/admin/billing/credits/purchases/<purchase_id>/refund")
@admin_required
def api_refund(purchase_id: str):
    """Refund a paid purchase in full or in part; a retry with the same key refunds once."""
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise ValidationFailed("send a JSON body, or none to refund everything left")
    body = body or {}
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object")
    purchase = find_purchase(purchase_id)
    result = refund_purchase(
        purchase, current_user, body.get("amount_cents"), body.get("idempotency_key")
    )
    return jsonify(refund_json(purchase, result.request)), 201 if result.created else 200


@bp.get("/api/v1/admin/billing/credits/purchases/<purchase_id>")
@admin_required
def api_purchase(purchase_id: str):
    """Return a purchase with its buyer's balance and its timeline."""
    purchase = find_purchase(purchase_id)
    return jsonify(purchase_detail_json(purchase))


@bp.post("/api/v1/admin/billing/credits/purchases/<purchase_id>/resolve")
@admin_required
def api_resolve(purchase_id: str):
    """Resolve a needs_review purchase (credit, fail, confirm or take_back) with a note."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed('send a JSON body like {"action": "credit", "note": "..."}')
    purchase = resolve_review(
        find_purchase(purchase_id), current_user, body.get("action"), body.get("note")
    )
    return jsonify(purchase_detail_json(purchase))


def purchase_detail_json(purchase) -> dict:
    """Build the admin's view of one purchase."""
    return {
        **purchase_json(purchase, with_email=True),
        "refunded_cents": purchase.refunded_cents,
        "dispute_status": purchase.dispute_status,
        "review_reason": purchase.review_reason,
        "review_actions": list(review_actions(purchase)),
        "buyer_balance": ledger.balance(purchase.user_id),
        "timeline": purchase_timeline(purchase),
    }


@bp.get("/admin/credits/purchases.csv")
@admin_required
def purchases_csv():
    """Stream the filtered purchases as CSV."""
    filters = PurchaseFilter.from_args(request.args)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(csv_rows(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="purchases-{stamp}.csv"'},
    )
