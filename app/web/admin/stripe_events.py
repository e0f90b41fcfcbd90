"""Admin view of the Stripe events that were acknowledged but changed nothing."""

from __future__ import annotations

from flask import request

from app.db import parse_limit
from app.payments.event_log import NEEDS_A_LOOK, recorded_events
from app.web.admin.views import bp
from app.web.auth.views import admin_required
from app.web.responses import page_or_partial


@bp.get("/admin/stripe-events")
@admin_required
def stripe_events_page():
    """List recorded events that need a look (malformed, unmatched), newest first."""
    outcome = request.args.get("outcome") or None
    cursor = request.args.get("cursor") or None
    page = recorded_events(outcome, parse_limit(request.args.get("limit")), cursor)
    context = {"page": page, "outcome": outcome, "outcomes": NEEDS_A_LOOK, "cursor": cursor}
    return page_or_partial("admin/stripe_events.html", "admin/_stripe_events.html", **context)
