"""Admin views of every purchase."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from app import ledger
from app.db import parse_limit
from app.domain import audit, users
from app.domain.formats import parse_amount
from app.domain.purchases import (
    PurchaseFilter,
    admin_purchases,
    find_purchase,
    user_purchases,
)
from app.domain.reports import csv_rows, daily_net, totals
from app.domain.timeline import purchase_timeline
from app.errors import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import PAID_STATUSES, PurchaseStatus, User, utcnow
from app.payments.event_log import NEEDS_A_LOOK, recorded_events
from app.payments.refunds import (
    credits_taken_back_by,
    refund_amount,
    refund_purchase,
    refundable_left,
)
from app.payments.review import resolve_review, review_actions
from app.web.admin.chart import daily_charts
from app.web.admin.forms import RESOLUTION_LABELS, GrantForm, RefundForm, ResolveForm, TokenForm
from app.web.api_shapes import page_json, purchase_detail_json, purchase_json, refund_json
from app.web.auth.views import admin_required
from app.web.responses import is_htmx, page_or_partial

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
    items = [purchase_json(p, with_email=True) for p in page.items]
    return jsonify(page_json(items, page.next_cursor))


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


# -- pages ---------------------------------------------------------------------------------


def _purchases_context(args) -> dict:
    """Build the admin purchases panel: filtered page, totals and chart."""
    filters = PurchaseFilter.from_args(args)
    cursor = args.get("cursor") or None
    page = admin_purchases(filters, parse_limit(args.get("limit")), cursor)
    query = {k: v for k, v in args.items() if k in FILTER_KEYS + ("cursor",) and v}
    return {
        "filters": filters,
        "query": query,
        "query_without_cursor": _without(query, "cursor"),
        "page": page,
        "cursor": cursor,
        "statuses": list(PurchaseStatus),
        "csv_url": url_for("admin.purchases_csv", **_without(query, "cursor")),
    }


FILTER_KEYS = ("status", "email", "created_from", "created_to")


def _without(query: dict, *keys: str) -> dict:
    return {k: v for k, v in query.items() if k not in keys}


@bp.get("/admin/credits/purchases")
@admin_required
def purchases_page():
    """List every purchase with filters, totals, a chart and CSV export."""
    try:
        context = _purchases_context(request.args)
    except ValidationFailed as exc:
        context = _purchases_context({})
        context["filter_error"] = exc.message
        context["query"] = {k: v for k, v in request.args.items() if k in FILTER_KEYS}
    if is_htmx():
        response = make_response(render_template("admin/_purchases_panel.html", **context))
        # Push the view's address without the empty fields the form also sends.
        response.headers["HX-Push-Url"] = url_for("admin.purchases_page", **context["query"])
        return response
    return render_template("admin/purchases.html", **context)


def _detail_context(purchase, **extra) -> dict:
    """Build the admin's purchase page."""
    actions = review_actions(purchase)
    resolve = extra.pop("resolve_form", None) or ResolveForm()
    resolve.action.choices = [(a, RESOLUTION_LABELS[a]) for a in actions]
    return {
        "purchase": purchase,
        "buyer_balance": ledger.balance(purchase.user_id),
        "timeline": purchase_timeline(purchase),
        "refund_form": extra.pop("refund_form", None) or RefundForm(formdata=None),
        "resolve_form": resolve,
        "review_actions": actions,
        "refundable": purchase.status in PAID_STATUSES and bool(purchase.stripe_payment_intent_id),
        "left_cents": refundable_left(purchase),
        **extra,
    }


@bp.get("/admin/credits/purchases/summary")
@admin_required
def purchases_summary():
    """Return the totals and the daily chart of the filtered purchases."""
    filters = PurchaseFilter.from_args(request.args)
    context = {
        "totals": totals(filters),
        "charts": daily_charts(daily_net(filters)),
        "query": {k: v for k, v in request.args.items() if k in FILTER_KEYS and v},
    }
    template = "admin/_summary.html" if is_htmx() else "admin/summary.html"
    return render_template(template, **context)


@bp.get("/admin/credits/purchases/<purchase_id>")
@admin_required
def purchase_page(purchase_id: str):
    """Show one purchase: buyer, balance, timeline, refund and review actions."""
    return render_template("admin/purchase.html", **_detail_context(find_purchase(purchase_id)))


def _refund_panel(purchase, status: int = 200, **extra):
    context = _detail_context(purchase, **extra)
    if is_htmx():
        response = make_response(render_template("admin/_refund_panel.html", **context), status)
        if status >= 400:
            response.headers.update({"HX-Retarget": "#refund-panel", "HX-Reswap": "outerHTML"})
        return response
    return render_template("admin/purchase.html", **context), status


@bp.post("/admin/credits/purchases/<purchase_id>/refund")
@admin_required
def refund_form(purchase_id: str):
    """Refund in two steps: review the amount, then confirm it."""
    purchase = find_purchase(purchase_id)
    form = RefundForm()
    if not form.validate():
        return _refund_panel(purchase, 422, refund_form=form, refund_error="Check the amount.")
    try:
        amount = parse_amount(form.amount.data, purchase.currency) if form.amount.data else None
        if form.confirm.data != "yes":
            confirm_cents = refund_amount(purchase, amount)
            confirm_credits = credits_taken_back_by(purchase, confirm_cents)
            return _refund_panel(
                purchase,
                refund_form=form,
                confirm_cents=confirm_cents,
                confirm_credits=confirm_credits,
            )
        result = refund_purchase(purchase, current_user, amount, form.idempotency_key.data)
    except DomainError as exc:
        return _refund_panel(purchase, exc.status, refund_form=form, refund_error=exc.message)
    db.session.refresh(purchase)
    return _refund_panel(purchase, refund_done=result.request)


@bp.post("/admin/credits/purchases/<purchase_id>/resolve")
@admin_required
def resolve_form(purchase_id: str):
    """Resolve a purchase that needs review, with a note."""
    purchase = find_purchase(purchase_id)
    form = ResolveForm()
    form.action.choices = [(a, RESOLUTION_LABELS[a]) for a in review_actions(purchase)]
    if form.validate():
        try:
            resolve_review(purchase, current_user, form.action.data, form.note.data)
        except DomainError as exc:
            form.note.errors = [*form.note.errors, exc.message]
        else:
            flash("Resolved.")
            return redirect(url_for("admin.purchase_page", purchase_id=purchase.public_id), 303)
    context = _detail_context(purchase, resolve_form=form)
    return render_template("admin/purchase.html", **context), 422


@bp.get("/admin/users")
@admin_required
def users_page():
    """Find users by email."""
    query = request.args.get("q", "")
    found = users.search_users(query)
    balances = {u.id: ledger.balance(u.id) for u in found}
    context = {"users": found, "balances": balances, "q": query}
    return page_or_partial("admin/users.html", "admin/_users.html", **context)


def _user_context(user, **extra) -> dict:
    return {
        "user": user,
        "balance": ledger.balance(user.id),
        "purchases": user_purchases(user, 20, None).items,
        "tokens": users.live_tokens(user),
        "audit_trail": audit.trail("user", user.id),
        "grant_form": extra.pop("grant_form", None) or GrantForm(formdata=None),
        "token_form": extra.pop("token_form", None) or TokenForm(formdata=None),
        **extra,
    }


def _get_user(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


@bp.get("/admin/users/<int:user_id>")
@admin_required
def user_page(user_id: int):
    """Show a user's balance, purchases and API tokens, with adjustment forms."""
    return render_template("admin/user.html", **_user_context(_get_user(user_id)))


@bp.post("/admin/users/<int:user_id>/grant")
@admin_required
def grant_form(user_id: int):
    """Grant or deduct credits with a required reason (audited)."""
    user = _get_user(user_id)
    form = GrantForm()
    if form.validate():
        try:
            ledger.adjust(
                user,
                form.amount.data,
                form.reason.data,
                actor=f"user:{current_user.id}",
                key=f"admin-adjustment:{user.id}:{form.idempotency_key.data}",
            )
        except DomainError as exc:
            form.amount.errors = [*form.amount.errors, exc.message]
        else:
            flash(f"Adjusted {user.email} by {form.amount.data:+,} credits.")
            return redirect(url_for("admin.user_page", user_id=user.id), 303)
    return render_template("admin/user.html", **_user_context(user, grant_form=form)), 422


@bp.post("/admin/users/<int:user_id>/tokens")
@admin_required
def create_token(user_id: int):
    """Create an API token for a user and show it once."""
    user = _get_user(user_id)
    form = TokenForm()
    if not form.validate():
        return render_template("admin/user.html", **_user_context(user, token_form=form)), 422
    token = users.issue_token(user, form.name.data or "admin", actor=f"user:{current_user.id}")
    return render_template("admin/user.html", **_user_context(user, new_token=token))


@bp.post("/admin/users/<int:user_id>/tokens/<int:token_id>/revoke")
@admin_required
def revoke_token(user_id: int, token_id: int):
    """Revoke one of a user's API tokens."""
    user = _get_user(user_id)
    if not any(t.id == token_id for t in users.live_tokens(user)):
        raise NotFound("no such token")
    users.revoke_token(token_id, actor=f"user:{current_user.id}")
    flash("Token revoked.")
    return redirect(url_for("admin.user_page", user_id=user.id), 303)


@bp.get("/admin/stripe-events")
@admin_required
def stripe_events_page():
    """List recorded events that need a look (malformed, unmatched), newest first."""
    outcome = request.args.get("outcome") or None
    cursor = request.args.get("cursor") or None
    page = recorded_events(outcome, parse_limit(request.args.get("limit")), cursor)
    context = {"page": page, "outcome": outcome, "outcomes": NEEDS_A_LOOK, "cursor": cursor}
    return page_or_partial("admin/stripe_events.html", "admin/_stripe_events.html", **context)
