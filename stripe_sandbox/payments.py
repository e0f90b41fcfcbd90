"""Paying Checkout Sessions (cards, 3-D Secure, bank transfers), PaymentIntents and charges."""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import objects
from . import params as P
from .catalog import eq_where, listing
from .context import Ctx
from .errors import CardDeclined, InvalidRequest
from .objects import Obj
from .sessions import EXPIRE_TIMER, expire
from .store import Timer

SETTLE_TIMER = "settle_bank_transfer"


DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "test_mode_live_card": (
        "Your card was declined. Your request was in test mode, but used a non test card."
        " For a list of valid test cards, visit: https://stripe.com/docs/testing."
    ),
}
AUTH_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment"
    " method and try again."
)
BANK_FAILED = "The customer's bank account has insufficient funds to cover this payment."


@dataclass(frozen=True)
class CardBehaviour:
    """What a test card number does when it pays."""

    brand: str
    outcome: str  # succeeded | declined | three_d_secure
    decline_code: str | None = None


TEST_CARDS = {
    "4242424242424242": CardBehaviour("visa", "succeeded"),
    "5555555555554444": CardBehaviour("mastercard", "succeeded"),
    "4000000000000002": CardBehaviour("visa", "declined", "generic_decline"),
    "4000000000009995": CardBehaviour("visa", "declined", "insufficient_funds"),
    "4000002500003155": CardBehaviour("visa", "three_d_secure"),
}


def luhn_ok(number: str) -> bool:
    """Return whether a card number passes the Luhn checksum."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(number)):
        n = int(digit) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def card_for(number: str) -> CardBehaviour:
    """Return the behaviour of a card number; unknown valid numbers are live cards, declined."""
    if number in TEST_CARDS:
        return TEST_CARDS[number]
    brand = {"4": "visa", "5": "mastercard", "3": "amex"}.get(number[:1], "unknown")
    return CardBehaviour(brand, "declined", "test_mode_live_card")


# paying -------------------------------------------------------------------


def payer_email(ctx: Ctx, session: Obj) -> str | None:
    """Return the email Checkout would prefill: the customer's, else `customer_email`."""
    if session["customer"]:
        customer = ctx.tx.get(session["customer"])
        if customer and customer.get("email"):
            return customer["email"]
    return session["customer_email"]


def ensure_open(ctx: Ctx, session: Obj) -> None:
    """Refuse to pay a session that is complete, expired or past its expiry time."""
    if session["status"] != "open" or ctx.clock() >= session["expires_at"]:
        status = session["status"] if session["status"] != "open" else "expired"
        raise InvalidRequest(f"This Checkout Session is no longer open (status `{status}`).")


def _payment_intent(ctx: Ctx, session: Obj) -> Obj:
    """Return the session's PaymentIntent, creating it at the first payment attempt."""
    if session["payment_intent"]:
        return ctx.load("payment_intent", session["payment_intent"])
    data = session["_payment_intent_data"]
    pi = objects.payment_intent(
        ctx.now(),
        amount=session["amount_total"],
        currency=session["currency"],
        customer=session["customer"],
        description=data.get("description"),
        metadata=dict(data.get("metadata") or {}),
        receipt_email=data.get("receipt_email"),
        statement_descriptor=data.get("statement_descriptor"),
        statement_descriptor_suffix=data.get("statement_descriptor_suffix"),
        payment_method_types=list(session["payment_method_types"]),
    )
    session["payment_intent"] = pi["id"]
    ctx.tx.put(session)
    return ctx.tx.put(pi)


def _statement(ctx: Ctx) -> str:
    """Return the statement descriptor a charge shows (the merchant's name)."""
    return ctx.settings.merchant_name.upper()[:22]


def _create_customer(ctx: Ctx, session: Obj, email: str | None) -> None:
    """Create the payer's customer (`customer_creation=always`) and attach it to the payment."""
    customer = ctx.tx.put(objects.customer(ctx.now(), email=email))
    session["customer"] = customer["id"]
    pi = ctx.tx.get(session["payment_intent"] or "")
    charge = ctx.tx.get(pi["latest_charge"] or "") if pi else None
    for obj in (pi, charge):
        if obj is not None:
            obj["customer"] = customer["id"]
            ctx.tx.put(obj)


def _complete(ctx: Ctx, session: Obj, email: str | None, payment_status: str) -> Obj:
    """Complete a session and send checkout.session.completed."""
    if session["customer_creation"] == "always" and not session["customer"]:
        _create_customer(ctx, session, email)
    session.update(
        status="complete",
        payment_status=payment_status,
        url=None,
        customer_details=objects.customer_details(email),
        collected_information={
            "business_name": None,
            "individual_name": None,
            "shipping_details": None,
        },
    )
    ctx.tx.clear_timer(EXPIRE_TIMER, session["id"])
    ctx.tx.put(session)
    ctx.emit("checkout.session.completed", session)
    return session


def _succeed(
    ctx: Ctx, session: Obj, pi: Obj, pm: Obj, email: str | None, authenticated: bool = False
) -> Obj:
    """Capture a card payment: succeeded charge and PaymentIntent, session paid."""
    charge = objects.charge(
        ctx.now(),
        pi,
        pm,
        _statement(ctx),
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=pi["amount"],
        balance_transaction=objects.new_id("txn_"),
        outcome=objects.outcome("authorized", message="Payment complete."),
    )
    if authenticated:
        charge["payment_method_details"]["card"]["three_d_secure"] = {
            "authentication_flow": "challenge",
            "electronic_commerce_indicator": "05",
            "exemption_indicator": None,
            "result": "authenticated",
            "result_reason": None,
            "transaction_id": objects.new_id("", 32),
            "version": "2.2.0",
        }
    ctx.tx.put(charge)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        next_action=None,
    )
    ctx.tx.put(pi)
    return _complete(ctx, session, email, "paid")


def _decline(ctx: Ctx, pi: Obj, pm: Obj, decline_code: str) -> CardDeclined:
    """Record a declined attempt (failed charge) and return the error to raise."""
    message = DECLINE_MESSAGES[decline_code]
    seller = (
        "The bank did not return any further details with this decline."
        if decline_code == "generic_decline"
        else f"The bank returned the decline code `{decline_code}`."
    )
    charge = objects.charge(
        ctx.now(),
        pi,
        pm,
        _statement(ctx),
        status="failed",
        failure_code="card_declined",
        failure_message=message,
        outcome=objects.outcome("issuer_declined", reason=decline_code, message=seller),
    )
    ctx.tx.put(charge)
    error = {
        "charge": charge["id"],
        "code": "card_declined",
        "decline_code": decline_code,
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": message,
        "payment_method": objects.public(pm),
        "type": "card_error",
    }
    pi.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        payment_method=None,
        last_payment_error=error,
        next_action=None,
    )
    ctx.tx.put(pi)
    return CardDeclined(
        message,
        code="card_declined",
        decline_code=decline_code,
        charge=charge["id"],
        payment_intent=objects.public(pi),
        payment_method=objects.public(pm),
    )


def _fail_authentication(ctx: Ctx, pi: Obj, pm: Obj) -> CardDeclined:
    """Record a failed 3-D Secure challenge and return the error to raise."""
    error = {
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": AUTH_FAILED,
        "payment_method": objects.public(pm),
        "type": "invalid_request_error",
    }
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        last_payment_error=error,
        next_action=None,
    )
    ctx.tx.put(pi)
    return CardDeclined(
        AUTH_FAILED,
        code="payment_intent_authentication_failure",
        payment_intent=objects.public(pi),
        payment_method=objects.public(pm),
    )


def pay_card(
    ctx: Ctx, session: Obj, number: str, email: str | None, three_d_secure: str | None = None
) -> Obj:
    """Pay a session with a test card number; raises CardDeclined for declines."""
    ensure_open(ctx, session)
    number = "".join(ch for ch in number if ch not in " -")
    if not number:
        raise CardDeclined("Your card number is incomplete.", code="incomplete_number")
    if not luhn_ok(number):
        raise CardDeclined("Your card number is incorrect.", code="incorrect_number")
    if session["amount_total"] == 0:
        return _complete(ctx, session, email, "no_payment_required")
    card = card_for(number)
    pi = _payment_intent(ctx, session)
    year = time.gmtime().tm_year
    pm = objects.payment_method(
        ctx.now(), "card", objects.card_details(card.brand, number[-4:], year), email
    )
    ctx.tx.put(pm)
    if card.outcome == "declined":
        raise _decline(ctx, pi, pm, card.decline_code or "generic_decline")
    if card.outcome == "three_d_secure":
        pi.update(
            status="requires_action",
            payment_method=pm["id"],
            last_payment_error=None,
            next_action={
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": f"{ctx.public_url}/checkout/{session['id']}/authenticate",
                    "source": pm["id"],
                },
            },
        )
        ctx.tx.put(pi)
        if three_d_secure is None:
            return session
        return authenticate(ctx, session, three_d_secure, email)
    return _succeed(ctx, session, pi, pm, email)


def authenticate(ctx: Ctx, session: Obj, result: str, email: str | None = None) -> Obj:
    """Finish a pending 3-D Secure challenge: `complete` pays, `fail` declines."""
    ensure_open(ctx, session)
    pi = ctx.load("payment_intent", session["payment_intent"] or "")
    if pi["status"] != "requires_action":
        raise InvalidRequest(
            "This Checkout Session has no payment waiting for 3-D Secure authentication."
        )
    pm = ctx.load("payment_method", pi["payment_method"])
    email = email or pm["billing_details"]["email"]
    if result == "complete":
        return _succeed(ctx, session, pi, pm, email, authenticated=True)
    raise _fail_authentication(ctx, pi, pm)


def pay_bank_transfer(ctx: Ctx, session: Obj, email: str | None, outcome: str) -> Obj:
    """Start a bank transfer: session complete but unpaid, PaymentIntent processing."""
    ensure_open(ctx, session)
    if session["amount_total"] == 0:
        return _complete(ctx, session, email, "no_payment_required")
    pi = _payment_intent(ctx, session)
    pm = objects.payment_method(ctx.now(), "us_bank_account", objects.bank_account_details(), email)
    ctx.tx.put(pm)
    charge = objects.charge(ctx.now(), pi, pm, _statement(ctx), status="pending")
    ctx.tx.put(charge)
    pi.update(
        status="processing",
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        next_action=None,
    )
    ctx.tx.put(pi)
    due = ctx.clock() + ctx.settings.bank_transfer_settle_seconds
    ctx.tx.set_timer(SETTLE_TIMER, pi["id"], due, {"outcome": outcome})
    return _complete(ctx, session, email, "unpaid")


def session_for_payment_intent(ctx: Ctx, pi_id: str) -> Obj | None:
    """Return the Checkout Session that owns a PaymentIntent."""
    found, _ = ctx.tx.select("checkout.session", eq_where("payment_intent", pi_id), limit=1)
    return found[0] if found else None


def settle(ctx: Ctx, pi: Obj, outcome: str | None = None) -> Obj:
    """Settle a processing bank transfer (outcome defaults to the one chosen when paying)."""
    if pi["status"] != "processing":
        raise InvalidRequest(
            f"This PaymentIntent has no bank transfer to settle (status `{pi['status']}`)."
        )
    timer = ctx.tx.get_timer(SETTLE_TIMER, pi["id"])
    outcome = outcome or (timer.data.get("outcome") if timer else None) or "succeeded"
    ctx.tx.clear_timer(SETTLE_TIMER, pi["id"])
    charge = ctx.load("charge", pi["latest_charge"])
    session = session_for_payment_intent(ctx, pi["id"])
    if outcome == "succeeded":
        charge.update(
            status="succeeded",
            paid=True,
            captured=True,
            amount_captured=charge["amount"],
            balance_transaction=objects.new_id("txn_"),
            outcome=objects.outcome("authorized", message="Payment complete."),
        )
        pi.update(status="succeeded", amount_received=pi["amount"])
    else:
        charge.update(
            status="failed",
            failure_code="insufficient_funds",
            failure_message=BANK_FAILED,
            outcome=objects.outcome("issuer_declined", reason=None, message=BANK_FAILED),
        )
        pm = ctx.tx.get(pi["payment_method"]) or {}
        pi.update(
            status="requires_payment_method",
            payment_method=None,
            last_payment_error={
                "charge": charge["id"],
                "code": "insufficient_funds",
                "message": BANK_FAILED,
                "payment_method": objects.public(pm),
                "type": "invalid_request_error",
            },
        )
    ctx.tx.put(charge)
    ctx.tx.put(pi)
    if session:
        if outcome == "succeeded":
            session["payment_status"] = "paid"
        ctx.tx.put(session)
        kind = "succeeded" if outcome == "succeeded" else "failed"
        ctx.emit(f"checkout.session.async_payment_{kind}", session)
    return pi


def run_timer(ctx: Ctx, timer: Timer) -> None:
    """Do the work of a due timer; stale timers (state moved on) are dropped."""
    obj = ctx.tx.get(timer.object_id)
    ctx.tx.clear_timer(timer.kind, timer.object_id)
    if obj is None:
        return
    if timer.kind == EXPIRE_TIMER and obj["status"] == "open":
        expire(ctx, obj)
    elif timer.kind == SETTLE_TIMER and obj["status"] == "processing":
        settle(ctx, obj, timer.data.get("outcome"))


# payment intents, charges, payment methods ---------------------------------------


def retrieve_payment_intent(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a PaymentIntent."""
    return ctx.load("payment_intent", id)


def list_payment_intents(ctx: Ctx, params: P.Params) -> Obj:
    """List PaymentIntents."""
    P.check_known(params, (*P.PAGE_PARAMS, "created", "customer"))
    where = eq_where("customer", P.string(params, "customer"))
    return listing(ctx, "payment_intent", "/v1/payment_intents", params, where)


def retrieve_charge(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a charge."""
    return ctx.load("charge", id)


def list_charges(ctx: Ctx, params: P.Params) -> Obj:
    """List charges."""
    P.check_known(params, (*P.PAGE_PARAMS, "created", "customer", "payment_intent"))
    where = [
        *eq_where("customer", P.string(params, "customer")),
        *eq_where("payment_intent", P.string(params, "payment_intent")),
    ]
    return listing(ctx, "charge", "/v1/charges", params, where)


def retrieve_payment_method(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a PaymentMethod."""
    return ctx.load("payment_method", id)


def helper_pay(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Test helper: pay a session by card or bank transfer without the hosted page."""
    P.check_known(
        params, ("card", "payment_method", "outcome", "three_d_secure", "email", "expand")
    )
    session = ctx.load("checkout.session", id)
    method = P.choice(params, "payment_method", ("card", "bank_transfer")) or "card"
    email = P.string(params, "email") or payer_email(ctx, session)
    if method == "bank_transfer":
        outcome = P.choice(params, "outcome", ("succeeded", "failed")) or "succeeded"
        return pay_bank_transfer(ctx, session, email, outcome)
    number = str(P.required(params, "card"))
    three_ds = P.choice(params, "three_d_secure", ("complete", "fail"))
    return pay_card(ctx, session, number, email, three_ds)


def helper_settle(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Test helper: settle a processing bank transfer now (outcome defaults to the chosen one)."""
    P.check_known(params, ("outcome", "expand"))
    outcome = P.choice(params, "outcome", ("succeeded", "failed"))
    return settle(ctx, ctx.load("payment_intent", id), outcome)
