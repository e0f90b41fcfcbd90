"""The hosted checkout page at a session's `url`: plain HTML forms, no JavaScript."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request

from . import objects, payments
from .api import public_url, sandbox
from .context import Ctx
from .errors import CardDeclined, InvalidRequest, NotFound
from .objects import Obj

bp = Blueprint("checkout", __name__)

TEST_CARDS = [
    ("4242 4242 4242 4242", "Succeeds"),
    ("4000 0000 0000 0002", "Declined"),
    ("4000 0025 0000 3155", "Asks for 3-D Secure"),
    ("4000 0000 0000 9995", "Declined: insufficient funds"),
]


def _view(ctx: Ctx, session: Obj, **extra: Any) -> dict[str, Any]:
    """Return the template context for a session's page."""
    currency = session["currency"] or "usd"
    return {
        "session": session,
        "merchant": ctx.settings.merchant_name,
        "items": [
            {
                "name": item["description"],
                "quantity": item["quantity"],
                "amount": objects.money(item["amount_total"], currency),
            }
            for item in session["_line_items"]
        ],
        "total": objects.money(session["amount_total"], currency),
        "email": payer_email(ctx, session),
        "test_cards": TEST_CARDS,
        "settle_seconds": int(ctx.settings.bank_transfer_settle_seconds),
        **extra,
    }


def payer_email(ctx: Ctx, session: Obj) -> str:
    """Return the email to prefill: what was typed, else the customer's."""
    return request.form.get("email") or payments.payer_email(ctx, session) or ""


def _page(ctx: Ctx, session: Obj, status: int = 200, **extra: Any) -> tuple[str, int]:
    """Render the page that fits the session's state."""
    if session["status"] != "open":
        return render_template("sandbox/status.html", **_view(ctx, session, **extra)), status
    return render_template("sandbox/checkout.html", **_view(ctx, session, **extra)), status


def _finish(session: Obj) -> Response | None:
    """Redirect (303) to `success_url` once the session is complete."""
    if session["status"] == "complete" and session["success_url"]:
        url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return redirect(url, 303)
    return None


def _load(ctx: Ctx, session_id: str) -> Obj:
    """Return the session, or answer with the not-found page."""
    try:
        return ctx.load("checkout.session", session_id)
    except NotFound:
        abort(404)


@bp.errorhandler(404)
def not_found(_: Exception) -> tuple[str, int]:
    """Show that the session does not exist."""
    return render_template("sandbox/missing.html"), 404


@bp.get("/checkout/<session_id>")
def show(session_id: str) -> tuple[str, int]:
    """Show the checkout page (or the session's final state)."""
    box = sandbox()
    box.tick()
    with box.read(public_url()) as ctx:
        return _page(ctx, _load(ctx, session_id))


@bp.post("/checkout/<session_id>")
def pay(session_id: str) -> Any:
    """Pay by card (button "Pay") or start a bank transfer ("Pay by bank transfer")."""
    box = sandbox()
    box.tick()
    method = request.form.get("method", "card")
    email = request.form.get("email", "").strip()
    with box.write(public_url()) as ctx:
        session = _load(ctx, session_id)
        if session["status"] != "open":
            return _page(ctx, session, 409)
        if not email:
            return _page(ctx, session, 422, error="Enter your email address.")
        try:
            if method == "bank_transfer":
                outcome = "failed" if request.form.get("outcome") == "failed" else "succeeded"
                session = payments.pay_bank_transfer(ctx, session, email, outcome)
            else:
                number = request.form.get("card_number", "")
                session = payments.pay_card(ctx, session, number, email)
        except (CardDeclined, InvalidRequest) as error:
            status = 402 if isinstance(error, CardDeclined) else 409
            return _page(ctx, ctx.load("checkout.session", session_id), status, error=error.message)
        pi = ctx.tx.get(session["payment_intent"] or "")
        if pi and pi["status"] == "requires_action":
            return redirect(f"{request.script_root}/checkout/{session_id}/authenticate", 303)
        return _finish(session) or _page(ctx, session)


@bp.get("/checkout/<session_id>/authenticate")
def challenge(session_id: str) -> Any:
    """Show the simulated 3-D Secure challenge from the card's bank."""
    box = sandbox()
    box.tick()
    with box.read(public_url()) as ctx:
        session = _load(ctx, session_id)
        pi = ctx.tx.get(session["payment_intent"] or "")
        if session["status"] != "open" or not pi or pi["status"] != "requires_action":
            return redirect(f"{request.script_root}/checkout/{session_id}", 303)
        card = (ctx.tx.get(pi["payment_method"]) or {}).get("card", {})
        return render_template(
            "sandbox/authenticate.html", **_view(ctx, session, last4=card.get("last4", ""))
        )


@bp.post("/checkout/<session_id>/authenticate")
def authenticate(session_id: str) -> Any:
    """Complete or fail the 3-D Secure challenge."""
    box = sandbox()
    box.tick()
    result = "complete" if request.form.get("action") == "complete" else "fail"
    with box.write(public_url()) as ctx:
        session = _load(ctx, session_id)
        try:
            session = payments.authenticate(ctx, session, result)
        except (CardDeclined, InvalidRequest) as error:
            status = 402 if isinstance(error, CardDeclined) else 409
            return _page(ctx, ctx.load("checkout.session", session_id), status, error=error.message)
        return _finish(session) or _page(ctx, session)
