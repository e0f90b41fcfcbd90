"""Refunds and disputes take credits back, computed against a cumulative target.

For a purchase of A cents and C credits whose charge has R cents refunded, exactly
ceil(C x R / A) credits are taken back in total; while a dispute is open or lost, all C.
Each event recomputes the target from Stripe's current numbers under the purchase's
row lock and posts only the difference, so partial, repeated and reordered events
converge on the same total.
"""

from __future__ import annotations

from app import ledger
from app.domain import mail
from app.domain.formats import money
from app.domain.purchases import set_status
from app.ledger import Posting, sales_account, user_account
from app.models import (
    PAID_STATUSES,
    Purchase,
    PurchaseStatus,
)
from app.payments.outcomes import Outcome, with_credits

# Dispute states in which the money is (or may be) gone: the credits go with it.
DISPUTE_HOLDS = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review", "lost"}
)


def refund_target(credits: int, amount_cents: int, refunded_cents: int) -> int:
    """Return ceil(credits x refunded / amount), with the refund clamped to [0, amount]."""
    refunded = min(max(refunded_cents, 0), amount_cents)
    return -(-credits * refunded // amount_cents)


def target_taken_back(purchase: Purchase, refunded_cents: int, dispute_status: str | None) -> int:
    """Return how many credits should have been taken back from this purchase in total."""
    if dispute_status in DISPUTE_HOLDS:
        return purchase.credits
    return refund_target(purchase.credits, purchase.amount_cents, refunded_cents)


def taken_back(purchase: Purchase) -> int:
    """Return the credits taken back from this purchase so far (net of restorations)."""
    return ledger.taken_back(purchase.id)


def money_status(purchase: Purchase) -> PurchaseStatus:
    if purchase.dispute_status in DISPUTE_HOLDS:
        return PurchaseStatus.DISPUTED
    if purchase.refunded_cents >= purchase.amount_cents:
        return PurchaseStatus.REFUNDED
    if purchase.refunded_cents > 0:
        return PurchaseStatus.PARTIALLY_REFUNDED
    return PurchaseStatus.COMPLETED


def _notify(purchase: Purchase, kind: str, sequence: int, amount: int, reason: str) -> None:
    balance = ledger.balance(purchase.user_id)
    cause = "dispute" if reason.startswith("dispute") else "refund"
    if kind == "take_back":
        headline = f"{amount:,} credits taken back ({purchase.package_name})"
        detail = f"Because of a {cause} on this purchase, {amount:,} credits were taken back."
    else:
        headline = f"{amount:,} credits given back ({purchase.package_name})"
        detail = (
            f"The dispute was closed and the payment stands, so {amount:,} credits were given back."
            if cause == "dispute"
            else f"A refund did not go through, so {amount:,} credits were given back."
        )
    detail += f" Your balance: {balance:,} credits."
    if balance < 0:
        detail += f" You owe {-balance:,} credits; your next purchase pays this first."
    mail.enqueue_notice(purchase, f"{kind}:{sequence}", headline, detail)


def settle(
    purchase: Purchase, *, refunded_cents: int, dispute_status: str | None, actor: str
) -> str:
    """Move credits so the purchase's take-backs match Stripe's numbers; caller holds the lock."""
    if purchase.status not in PAID_STATUSES:
        return Outcome.NOT_CREDITED
    dispute_changed = dispute_status != purchase.dispute_status
    purchase.settlement_version += 1
    purchase.refunded_cents = min(max(refunded_cents, 0), purchase.amount_cents)
    purchase.dispute_status = dispute_status
    delta = target_taken_back(purchase, refunded_cents, dispute_status) - taken_back(purchase)
    outcome: str = Outcome.NO_CHANGE
    if delta:
        kind = "take_back" if delta > 0 else "restore"
        sequence = 1 + ledger.take_back_count(purchase.id)
        reason = (
            f"dispute {dispute_status}"
            if dispute_changed and dispute_status
            else f"{money(refunded_cents, purchase.currency)} refunded"
        )
        ledger.post(
            f"purchase:{purchase.public_id}:{kind}:{sequence}",
            kind,
            [
                Posting(user_account(purchase.user_id), -delta),
                Posting(sales_account(purchase.id), delta),
            ],
            purchase_id=purchase.id,
            description=f"{purchase.package_name}: {reason}",
            actor=actor,
        )
        outcome = with_credits(Outcome.TAKEN_BACK if delta > 0 else Outcome.RESTORED, abs(delta))
        _notify(purchase, kind, sequence, abs(delta), reason)
    elif dispute_changed and dispute_status == "lost":
        mail.enqueue_notice(
            purchase,
            "dispute:lost",
            f"Dispute closed: the credits stay taken back ({purchase.package_name})",
            "The bank decided the dispute about this purchase in your favour, so the credits "
            f"taken back when it opened stay taken back. Your balance: "
            f"{ledger.balance(purchase.user_id):,} credits.",
        )
    set_status(purchase, money_status(purchase), actor)
    return outcome
