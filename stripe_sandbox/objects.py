"""Builders for Stripe objects in the pinned API version's shape (every top-level field)."""

from __future__ import annotations

import secrets
import string
from typing import Any

from .config import API_VERSION

_ALPHABET = string.ascii_letters + string.digits

Obj = dict[str, Any]

NULL_ADDRESS: Obj = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥"}


def money(amount: int, currency: str) -> str:
    """Format minor units for people: $12.34, ¥1,000, 12.34 CHF."""
    code = currency.lower()
    major = f"{amount:,}" if code in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{major}" if symbol else f"{major} {code.upper()}"


def new_id(prefix: str, length: int = 24) -> str:
    """Return a random id such as `pi_3Pq...` in Stripe's style."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def session_id() -> str:
    """Return a Checkout Session id (`cs_test_a1...`, 66 characters like Stripe's)."""
    return "cs_test_a1" + "".join(secrets.choice(_ALPHABET) for _ in range(56))


def public(obj: Obj) -> Obj:
    """Return a copy without the sandbox's private `_` keys."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def list_object(url: str, data: list[Obj], has_more: bool) -> Obj:
    """Return a Stripe list object."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def product(now: int, **fields: Any) -> Obj:
    """Return a new product."""
    return {
        "id": new_id("prod_", 14),
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
        **fields,
    }


def price(now: int, **fields: Any) -> Obj:
    """Return a new one-time price (fields override)."""
    obj = {
        "id": new_id("price_"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": None,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": None,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": None,
        "unit_amount_decimal": None,
        **fields,
    }
    if obj["unit_amount"] is not None:
        obj["unit_amount_decimal"] = str(obj["unit_amount"])
    return obj


def customer(now: int, **fields: Any) -> Obj:
    """Return a new customer."""
    return {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        **fields,
    }


def line_item(price_obj: Obj, product_obj: Obj, quantity: int) -> Obj:
    """Return a Checkout line item (`item`) with its price expanded, as Stripe lists them."""
    amount = (price_obj["unit_amount"] or 0) * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": product_obj["name"],
        "metadata": {},
        "price": price_obj,
        "quantity": quantity,
    }


def checkout_session(now: int, **fields: Any) -> Obj:
    """Return a new open Checkout Session in payment mode."""
    return {
        "id": session_id(),
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 0,
        "amount_total": 0,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": None,
        "client_reference_id": None,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": None,
        "discounts": [],
        "expires_at": now + 24 * 3600,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": {},
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": None,
        "wallet_options": None,
        **fields,
    }


def customer_details(email: str | None) -> Obj:
    """Return what Checkout collected from the payer."""
    return {
        "address": dict(NULL_ADDRESS),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def payment_intent(now: int, **fields: Any) -> Obj:
    """Return a new PaymentIntent awaiting a payment method."""
    pi_id = new_id("pi_")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": 0,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": None,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
        **fields,
    }


def billing_details(email: str | None) -> Obj:
    """Return billing details holding only an email."""
    return {
        "address": dict(NULL_ADDRESS),
        "email": email,
        "name": None,
        "phone": None,
        "tax_id": None,
    }


def card_details(brand: str, last4: str, now_year: int) -> Obj:
    """Return the `card` hash of a card PaymentMethod."""
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "display_brand": brand,
        "exp_month": 12,
        "exp_year": now_year + 3,
        "fingerprint": new_id("", 16),
        "funding": "credit",
        "generated_from": None,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def bank_account_details() -> Obj:
    """Return the `us_bank_account` hash of a bank PaymentMethod (Stripe's test account)."""
    return {
        "account_holder_type": "individual",
        "account_type": "checking",
        "bank_name": "STRIPE TEST BANK",
        "financial_connections_account": None,
        "fingerprint": new_id("", 16),
        "last4": "6789",
        "networks": {"preferred": "ach", "supported": ["ach"]},
        "routing_number": "110000000",
        "status_details": None,
    }


def payment_method(now: int, type_: str, details: Obj, email: str | None, **fields: Any) -> Obj:
    """Return a PaymentMethod of `type_` (card or us_bank_account)."""
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(email),
        type_: details,
        "created": now,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": type_,
        **fields,
    }


def charge(now: int, pi: Obj, pm: Obj, statement: str, **fields: Any) -> Obj:
    """Return a charge made by a PaymentIntent with a PaymentMethod (fields override)."""
    pm_type = pm["type"]
    if pm_type == "card":
        card = pm["card"]
        method_details: Obj = {
            "card": {
                "amount_authorized": pi["amount"],
                "authorization_code": None,
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": None,
                "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        }
    else:
        bank = pm["us_bank_account"]
        method_details = {
            "type": "us_bank_account",
            "us_bank_account": {
                "account_holder_type": bank["account_holder_type"],
                "account_type": bank["account_type"],
                "bank_name": bank["bank_name"],
                "fingerprint": bank["fingerprint"],
                "last4": bank["last4"],
                "mandate": new_id("mandate_"),
                "payment_reference": None,
                "routing_number": bank["routing_number"],
            },
        }
    return {
        "id": new_id("ch_"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": statement,
        "captured": False,
        "created": now,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": method_details,
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "pending",
        "transfer_data": None,
        "transfer_group": None,
        **fields,
    }


def outcome(type_: str, *, reason: str | None = None, message: str) -> Obj:
    """Return a charge `outcome` (authorized, issuer_declined ...)."""
    approved = type_ == "authorized"
    return {
        "advice_code": None if approved else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if approved else "declined_by_network",
        "reason": reason,
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": message,
        "type": type_,
    }


def refund(now: int, charge_obj: Obj, amount: int, **fields: Any) -> Obj:
    """Return a refund of a charge, succeeded as card refunds are in test mode."""
    is_card = charge_obj["payment_method_details"]["type"] == "card"
    destination: Obj = (
        {
            "card": {
                "reference": str(secrets.randbelow(10**23)).zfill(23),
                "reference_status": "available",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        }
        if is_card
        else {
            "type": "us_bank_account",
            "us_bank_account": {"reference": None, "reference_status": "pending"},
        }
    )
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge_obj["id"],
        "created": now,
        "currency": charge_obj["currency"],
        "customer": charge_obj["customer"],
        "customer_account": None,
        "description": None,
        "destination_details": destination,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method": charge_obj["payment_method"],
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        **fields,
    }


EVIDENCE_FIELDS = [
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
]


def dispute(now: int, charge_obj: Obj, amount: int, reason: str) -> Obj:
    """Return a new dispute (chargeback) awaiting the merchant's response."""
    card = charge_obj["payment_method_details"].get("card") or {}
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_obj["id"],
        "created": now,
        "currency": charge_obj["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(EVIDENCE_FIELDS),
            "customer_email_address": charge_obj["billing_details"]["email"],
            "enhanced_evidence": {},
        },
        "evidence_details": {
            "due_by": now + 7 * 24 * 3600,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": card.get("brand", "visa"),
                "case_type": "chargeback",
                "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }


def event(
    now: int,
    type_: str,
    data_object: Obj,
    previous: Obj | None,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> Obj:
    """Return an event whose `data.object` is a snapshot of the object as of the change."""
    data: Obj = {"object": data_object}
    if previous:
        data["previous_attributes"] = previous
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }
