"""Checkout Sessions: create, retrieve, update, list, line items, expire."""

from __future__ import annotations

from urllib.parse import urlsplit

from . import objects
from . import params as P
from .catalog import eq_where, listing, new_price
from .context import Ctx
from .errors import InvalidRequest
from .objects import Obj

EXPIRE_TIMER = "expire_session"
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600
EXPIRY_LEEWAY = 10  # seconds of clock skew forgiven at either bound

SESSION_PARAMS = (
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "customer",
    "customer_email",
    "metadata",
    "payment_intent_data",
    "expires_at",
    "payment_method_types",
    "expand",
    "locale",
    "submit_type",
    "billing_address_collection",
    "allow_promotion_codes",
    "customer_creation",
    "ui_mode",
)
PAYMENT_INTENT_DATA = (
    "metadata",
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
)
PAYMENT_METHOD_TYPES = ("card", "us_bank_account", "link", "customer_balance")


def _line_items(ctx: Ctx, params: P.Params) -> list[Obj]:
    """Resolve `line_items[i][price|price_data]` and quantities into line items."""
    items = params.get("line_items")
    if not items:
        P.required(params, "line_items")
    if not isinstance(items, list):
        raise InvalidRequest("Invalid array", param="line_items")
    result: list[Obj] = []
    for i, item in enumerate(items):
        label = f"line_items[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"Invalid hash: {label}", param=label)
        P.check_known(item, ("price", "price_data", "quantity"), label)
        quantity = P.integer(item, "quantity", label=f"{label}[quantity]", minimum=1)
        if quantity is None:
            P.required(item, "quantity", f"{label}[quantity]")
        price = _line_price(ctx, item, label)
        if price["type"] == "recurring":
            raise InvalidRequest(
                "You specified `payment` mode but passed a recurring price. Either switch to"
                " `subscription` mode or use only one-time prices.",
                param=f"{label}[price]",
            )
        if result and price["currency"] != result[0]["currency"]:
            raise InvalidRequest(
                "All line items must use the same currency.", param=f"{label}[price]"
            )
        product = ctx.ref("product", price["product"], f"{label}[price]")
        result.append(objects.line_item(objects.public(price), objects.public(product), quantity))
    return result


def _line_price(ctx: Ctx, item: P.Params, label: str) -> Obj:
    """Return the active price of a line item, creating one from `price_data`."""
    price_id = P.string(item, "price", f"{label}[price]")
    if price_id:
        price = ctx.ref("price", price_id, f"{label}[price]")
        if not price["active"]:
            raise InvalidRequest(
                f"The price `{price_id}` is not active and cannot be used in a Checkout Session.",
                param=f"{label}[price]",
            )
        return price
    data = item.get("price_data")
    if not isinstance(data, dict):
        raise P.missing(f"{label}[price]")
    prefix = f"{label}[price_data]"
    P.check_known(data, ("currency", "unit_amount", "product", "product_data"), prefix)
    product_id = P.string(data, "product", f"{prefix}[product]")
    if product_id:
        ctx.ref("product", product_id, f"{prefix}[product]")
    else:
        product_data = data.get("product_data")
        if not isinstance(product_data, dict):
            raise P.missing(f"{prefix}[product]")
        P.check_known(product_data, ("name", "description", "metadata"), f"{prefix}[product_data]")
        name = P.required(product_data, "name", f"{prefix}[product_data][name]")
        product = objects.product(
            ctx.now(),
            name=name,
            description=P.string(product_data, "description"),
            metadata=P.metadata(product_data),
        )
        product_id = ctx.tx.put(product)["id"]
    price = new_price(ctx, data, product_id, prefix)
    price["active"] = False  # inline prices are single-use, as at Stripe
    return ctx.tx.put(price)


def _url(params: P.Params, name: str) -> str | None:
    """Return an absolute http(s) URL parameter."""
    value = P.string(params, name)
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        raise InvalidRequest("Not a valid URL", param=name, code="url_invalid")
    return value


def _expires_at(ctx: Ctx, params: P.Params) -> int:
    """Return `expires_at`, holding it to Stripe's 30 minutes to 24 hours window."""
    now = ctx.now()
    value = P.integer(params, "expires_at")
    if value is None:
        return now + MAX_EXPIRY
    if value < now + MIN_EXPIRY - EXPIRY_LEEWAY:
        raise InvalidRequest(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session"
            " creation.",
            param="expires_at",
        )
    if value > now + MAX_EXPIRY + EXPIRY_LEEWAY:
        raise InvalidRequest(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return value


def create_session(ctx: Ctx, params: P.Params) -> Obj:
    """Create an open Checkout Session in payment mode with a hosted `url`."""
    P.check_known(params, SESSION_PARAMS)
    mode = P.required(params, "mode")
    P.choice(params, "mode", ("payment", "setup", "subscription"))
    if mode != "payment":
        raise InvalidRequest("The Stripe sandbox supports only `mode=payment`.", param="mode")
    P.choice(params, "ui_mode", ("hosted_page",))
    customer_id = P.string(params, "customer")
    customer_email = P.string(params, "customer_email")
    if customer_id and customer_email:
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    if customer_id:
        ctx.ref("customer", customer_id, "customer")
    pi_data = params.get("payment_intent_data") or {}
    if not isinstance(pi_data, dict):
        raise InvalidRequest("Invalid hash", param="payment_intent_data")
    P.check_known(pi_data, PAYMENT_INTENT_DATA, "payment_intent_data")
    types = P.string_list(params, "payment_method_types") or ["card", "us_bank_account"]
    for i, type_ in enumerate(types):
        P.choice({"t": type_}, "t", PAYMENT_METHOD_TYPES, f"payment_method_types[{i}]")
    creation = P.choice(params, "customer_creation", ("always", "if_required"))
    items = _line_items(ctx, params)
    total = sum(item["amount_total"] for item in items)
    session = objects.checkout_session(
        ctx.now(),
        amount_subtotal=total,
        amount_total=total,
        currency=items[0]["currency"],
        cancel_url=_url(params, "cancel_url"),
        success_url=_url(params, "success_url"),
        client_reference_id=P.string(params, "client_reference_id"),
        customer=customer_id,
        customer_email=customer_email,
        customer_creation=None if customer_id else creation or "if_required",
        expires_at=_expires_at(ctx, params),
        metadata=P.metadata(params),
        payment_method_types=types,
        locale=P.string(params, "locale"),
        submit_type=P.choice(params, "submit_type", ("auto", "book", "donate", "pay")),
        billing_address_collection=P.choice(
            params, "billing_address_collection", ("auto", "required")
        ),
        allow_promotion_codes=P.boolean(params, "allow_promotion_codes"),
        _line_items=items,
        _payment_intent_data={
            "metadata": P.metadata(pi_data),
            **{k: P.string(pi_data, k) for k in PAYMENT_INTENT_DATA if k != "metadata"},
        },
    )
    if customer_id:
        session["saved_payment_method_options"] = {
            "allow_redisplay_filters": ["always"],
            "payment_method_remove": "disabled",
            "payment_method_save": "disabled",
        }
    session["url"] = f"{ctx.public_url}/checkout/{session['id']}"
    ctx.tx.set_timer(EXPIRE_TIMER, session["id"], session["expires_at"])
    return ctx.tx.put(session)


def retrieve_session(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a Checkout Session."""
    return ctx.load("checkout.session", id)


def update_session(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Update a Checkout Session's metadata."""
    P.check_known(params, ("metadata", "expand"))
    session = ctx.load("checkout.session", id)
    session["metadata"] = P.metadata(params, session["metadata"])
    return ctx.tx.put(session)


def list_sessions(ctx: Ctx, params: P.Params) -> Obj:
    """List Checkout Sessions."""
    P.check_known(
        params, (*P.PAGE_PARAMS, "created", "customer", "payment_intent", "status", "payment_link")
    )
    where = [
        *eq_where("customer", P.string(params, "customer")),
        *eq_where("payment_intent", P.string(params, "payment_intent")),
        *eq_where("status", P.choice(params, "status", ("open", "complete", "expired"))),
        *eq_where("payment_link", P.string(params, "payment_link")),
    ]
    return listing(ctx, "checkout.session", "/v1/checkout/sessions", params, where)


def session_line_items(ctx: Ctx, session: Obj, params: P.Params) -> Obj:
    """Return a page of a session's line items."""
    items = session["_line_items"]
    page = P.page(params)
    ids = [item["id"] for item in items]
    start = 0
    if page["starting_after"] in ids:
        start = ids.index(page["starting_after"]) + 1
    chunk = items[start : start + page["limit"]]
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return objects.list_object(url, chunk, start + page["limit"] < len(items))


def list_line_items(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """List a Checkout Session's line items."""
    P.check_known(params, P.PAGE_PARAMS)
    return session_line_items(ctx, ctx.load("checkout.session", id), params)


def expire_session(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Expire an open Checkout Session (its PaymentIntent, if any, is canceled)."""
    P.check_known(params, ("expand",))
    return expire(ctx, ctx.load("checkout.session", id))


def expire(ctx: Ctx, session: Obj) -> Obj:
    """Move an open session to expired and send checkout.session.expired."""
    if session["status"] != "open":
        raise InvalidRequest(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout'
            f" Session has a status of `{session['status']}`."
        )
    if session["payment_intent"]:
        pi = ctx.tx.get(session["payment_intent"])
        if pi and pi["status"] in ("requires_payment_method", "requires_action"):
            pi.update(
                status="canceled",
                canceled_at=ctx.now(),
                cancellation_reason="abandoned",
                next_action=None,
            )
            ctx.tx.put(pi)
    session.update(status="expired", url=None)
    ctx.tx.clear_timer(EXPIRE_TIMER, session["id"])
    ctx.tx.put(session)
    ctx.emit("checkout.session.expired", session)
    return session
