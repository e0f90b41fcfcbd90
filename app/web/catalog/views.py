"""The packs on sale: the buy page and the public JSON list."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from app import ledger
from app.domain.packs import active_packages
from app.web.api_shapes import package_json
from app.web.catalog.offers import offers

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index():
    """Send visitors to the buy page."""
    return redirect(url_for("catalog.buy"))


@bp.get("/credits/purchase")
@login_required
def buy():
    """Show the balance and the packs on sale."""
    return render_template(
        "catalog/buy.html", offers=offers(), balance=ledger.balance(current_user.id)
    )


@bp.get("/favicon.ico")
def favicon():
    """Point browsers at the icon on pages that name none (the sandbox's checkout page)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/admin/credits/purchase")
@login_required
def legacy_buy():
    """Keep the old buy address working for every logged-in user."""
    return redirect(url_for("catalog.buy"), 301)


@bp.get("/api/v1/billing/credits/packages")
def api_packages():
    """List the packs on sale, in display order."""
    return jsonify({"data": [package_json(p) for p in active_packages()]})
