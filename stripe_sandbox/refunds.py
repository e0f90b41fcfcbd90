"""Refunds and disputes, and the charge fields they move (amount_refunded, refunded, disputed)."""

from __future__ import annotations

from . import objects
from . import params as P
from .catalog import eq_where, listing
from .context import Ctx
from .errors import InvalidRequest
from .objects import Obj, money

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_FAILURES = (
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "declined",
    "insufficient_funds",
    "merchant_request",
    "unknown",
)
DISPUTE_REASONS = (
    "fraudulent",
    "general",
    "product_not_received",
    "product_unacceptable",
    "duplicate",
    "subscription_canceled",
    "credit_not_processed",
    "unrecognized",
)
OPEN_DISPUTE = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")
COUNTED_REFUND = ("pending", "requires_action", "succeeded")  # not failed or canceled


def _disputes(ctx: Ctx, charge_id: str) -> list[Obj]:
    """Return the disputes of a charge."""
    found, _ = ctx.tx.select("dispute", eq_where("charge", charge_id), limit=100)
    return found


def _recount(ctx: Ctx, charge: Obj) -> Obj:
    """Recompute amount_refunded from refunds that have not failed or been canceled."""
    refunds, _ = ctx.tx.select("refund", eq_where("charge", charge["id"]), limit=10_000)
    refunded = sum(r["amount"] for r in refunds if r["status"] in COUNTED_REFUND)
    charge.update(amount_refunded=refunded, refunded=refunded >= charge["amount"])
    return charge


def _changed(before: Obj, after: Obj, keys: tuple[str, ...]) -> Obj:
    """Return `previous_attributes`: the old values of keys that changed."""
    return {k: before[k] for k in keys if before[k] != after[k]}


def _refundable_charge(ctx: Ctx, params: P.Params) -> Obj:
    """Resolve `charge` / `payment_intent` to a charge that can take a refund."""
    charge_id = P.string(params, "charge")
    pi_id = P.string(params, "payment_intent")
    if not charge_id and not pi_id:
        raise InvalidRequest(
            "One of the following params should be provided for this request: payment_intent"
            " or charge.",
            code="parameter_missing",
        )
    if pi_id:
        pi = ctx.ref("payment_intent", pi_id, "payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise InvalidRequest(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        if charge_id and charge_id != pi["latest_charge"]:
            raise InvalidRequest(
                f"The charge `{charge_id}` does not belong to PaymentIntent `{pi_id}`.",
                param="charge",
            )
        charge_id = pi["latest_charge"]
    charge = ctx.ref("charge", str(charge_id), "charge")
    if charge["status"] != "succeeded":
        raise InvalidRequest(
            f"Charge {charge_id} has not succeeded, so it cannot be refunded.", param="charge"
        )
    if any(d["status"] in (*OPEN_DISPUTE, "lost") for d in _disputes(ctx, charge_id)):
        raise InvalidRequest(
            f"Charge {charge_id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    if charge["amount_refunded"] >= charge["amount"]:
        raise InvalidRequest(
            f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
        )
    return charge


def create_refund(ctx: Ctx, params: P.Params) -> Obj:
    """Refund all or part of a charge and send charge.refunded."""
    P.check_known(params, ("charge", "payment_intent", "amount", "metadata", "reason", "expand"))
    charge = _refundable_charge(ctx, params)
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = P.integer(params, "amount", minimum=1)
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded"
            f" amount on charge ({money(remaining, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    refund = objects.refund(
        ctx.now(),
        charge,
        amount,
        metadata=P.metadata(params),
        reason=P.choice(params, "reason", REFUND_REASONS),
    )
    ctx.tx.put(refund)
    before = dict(charge)
    _recount(ctx, charge)
    ctx.tx.put(charge)
    ctx.emit("charge.refunded", charge, _changed(before, charge, ("amount_refunded", "refunded")))
    return refund


def retrieve_refund(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a refund."""
    return ctx.load("refund", id)


def update_refund(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Update a refund's metadata (sends charge.refund.updated)."""
    P.check_known(params, ("metadata", "expand"))
    refund = ctx.load("refund", id)
    before = dict(refund)
    refund["metadata"] = P.metadata(params, refund["metadata"])
    ctx.tx.put(refund)
    if refund["metadata"] != before["metadata"]:
        ctx.emit("charge.refund.updated", refund, {"metadata": before["metadata"]})
    return refund


def list_refunds(ctx: Ctx, params: P.Params) -> Obj:
    """List refunds."""
    P.check_known(params, (*P.PAGE_PARAMS, "charge", "payment_intent", "created"))
    where = [
        *eq_where("charge", P.string(params, "charge")),
        *eq_where("payment_intent", P.string(params, "payment_intent")),
    ]
    return listing(ctx, "refund", "/v1/refunds", params, where)


def helper_fail_refund(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Test helper: make a refund fail; the charge's amount_refunded drops back."""
    P.check_known(params, ("failure_reason", "expand"))
    refund = ctx.load("refund", id)
    if refund["status"] not in ("pending", "succeeded"):
        raise InvalidRequest(
            f"Only pending or succeeded refunds can fail; this refund is {refund['status']}."
        )
    before = {**refund, "failure_reason": None, "failure_balance_transaction": None}
    refund.update(
        status="failed",
        failure_reason=P.choice(params, "failure_reason", REFUND_FAILURES)
        or "expired_or_canceled_card",
        failure_balance_transaction=objects.new_id("txn_"),
    )
    ctx.tx.put(refund)
    charge = ctx.load("charge", refund["charge"])
    ctx.tx.put(_recount(ctx, charge))
    keys = ("status", "failure_reason", "failure_balance_transaction")
    ctx.emit("charge.refund.updated", refund, _changed(before, refund, keys))
    return refund


# disputes -----------------------------------------------------------------------


def helper_open_dispute(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Test helper: open a dispute for the charge's unrefunded amount."""
    P.check_known(params, ("reason", "expand"))
    charge = ctx.load("charge", id)
    if charge["status"] != "succeeded":
        raise InvalidRequest(f"Charge {id} has not succeeded, so it cannot be disputed.")
    if _disputes(ctx, id):
        raise InvalidRequest(f"Charge {id} has already been disputed.")
    amount = charge["amount"] - charge["amount_refunded"]
    if amount <= 0:
        raise InvalidRequest(f"Charge {id} has been fully refunded, so it cannot be disputed.")
    reason = P.choice(params, "reason", DISPUTE_REASONS) or "fraudulent"
    dispute = ctx.tx.put(objects.dispute(ctx.now(), charge, amount, reason))
    charge["disputed"] = True
    ctx.tx.put(charge)
    ctx.emit("charge.dispute.created", dispute)
    return dispute


def helper_close_dispute(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Test helper: close a dispute as won or lost (sends charge.dispute.closed)."""
    P.check_known(params, ("outcome", "expand"))
    P.required(params, "outcome")
    outcome = P.choice(params, "outcome", ("won", "lost"))
    dispute = ctx.load("dispute", id)
    if dispute["status"] not in OPEN_DISPUTE:
        raise InvalidRequest(f"This dispute is already closed (status `{dispute['status']}`).")
    previous = {"status": dispute["status"]}
    dispute.update(status=outcome, is_charge_refundable=outcome == "won")
    ctx.tx.put(dispute)
    ctx.emit("charge.dispute.closed", dispute, previous)
    return dispute


def retrieve_dispute(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a dispute."""
    return ctx.load("dispute", id)


def list_disputes(ctx: Ctx, params: P.Params) -> Obj:
    """List disputes."""
    P.check_known(params, (*P.PAGE_PARAMS, "charge", "payment_intent", "created"))
    where = [
        *eq_where("charge", P.string(params, "charge")),
        *eq_where("payment_intent", P.string(params, "payment_intent")),
    ]
    return listing(ctx, "dispute", "/v1/disputes", params, where)
