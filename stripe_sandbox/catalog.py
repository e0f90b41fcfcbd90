"""Products, prices and customers."""

from __future__ import annotations

from typing import Any

from . import objects
from . import params as P
from .context import Ctx
from .errors import InvalidRequest
from .objects import Obj

PRODUCT_TEXT = ("description", "url", "statement_descriptor", "unit_label", "tax_code")
PRODUCT_PARAMS = (
    *PRODUCT_TEXT,
    "name",
    "active",
    "metadata",
    "images",
    "shippable",
    "marketing_features",
    "package_dimensions",
    "expand",
)
PRICE_UPDATE_PARAMS = (
    "active",
    "metadata",
    "nickname",
    "lookup_key",
    "transfer_lookup_key",
    "tax_behavior",
    "expand",
)
CUSTOMER_TEXT = ("email", "name", "phone", "description")
CUSTOMER_PARAMS = (*CUSTOMER_TEXT, "metadata", "address", "preferred_locales", "expand")


def _bool_where(field: str, value: bool | None) -> list[tuple[str, list]]:
    """Return a SQL filter on a boolean JSON field."""
    return [] if value is None else [(f"json_extract(data, '$.{field}') = ?", [int(value)])]


def eq_where(field: str, value: str | None) -> list[tuple[str, list]]:
    """Return a SQL filter on a string JSON field."""
    return [] if value is None else [(f"json_extract(data, '$.{field}') = ?", [value])]


def in_where(field: str, values: list[str] | None) -> list[tuple[str, list]]:
    """Return a SQL filter `field IN (...)`."""
    if not values:
        return []
    marks = ", ".join("?" * len(values))
    return [(f"json_extract(data, '$.{field}') IN ({marks})", list(values))]


def listing(ctx: Ctx, type_: str, url: str, params: P.Params, where: list) -> Obj:
    """Return one page of a Stripe list."""
    where = [*where, *P.created_filter(params)]
    data, has_more = ctx.tx.select(type_, where, **P.page(params))
    return objects.list_object(url, [objects.public(o) for o in data], has_more)


# products ---------------------------------------------------------------


def _apply_product(ctx: Ctx, obj: Obj, params: P.Params) -> Obj:
    """Apply the writable product fields present in `params`."""
    if "name" in params:
        obj["name"] = P.required(params, "name")
    for field in PRODUCT_TEXT:
        if field in params:
            obj[field] = P.string(params, field)
    if "active" in params:
        obj["active"] = P.boolean(params, "active") is not False
    if "shippable" in params:
        obj["shippable"] = P.boolean(params, "shippable")
    if "images" in params:
        obj["images"] = P.string_list(params, "images") or []
    obj["metadata"] = P.metadata(params, obj["metadata"])
    return obj


def create_product(ctx: Ctx, params: P.Params) -> Obj:
    """Create a product (optionally with a custom `id` and a `default_price_data`)."""
    P.check_known(params, (*PRODUCT_PARAMS, "id", "default_price_data", "type"))
    P.required(params, "name")
    obj = _apply_product(ctx, objects.product(ctx.now()), params)
    custom_id = P.string(params, "id")
    if custom_id:
        if ctx.tx.get(custom_id):
            raise InvalidRequest(
                "Product already exists.", param="id", code="resource_already_exists"
            )
        obj["id"] = custom_id
    price_data = params.get("default_price_data")
    if isinstance(price_data, dict):
        P.check_known(price_data, ("currency", "unit_amount", "metadata"), "default_price_data")
        price = new_price(ctx, price_data, obj["id"], "default_price_data")
        ctx.tx.put(price)
        obj["default_price"] = price["id"]
    return ctx.tx.put(obj)


def retrieve_product(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a product."""
    return ctx.load("product", id)


def update_product(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Update a product's fields, metadata or default price."""
    P.check_known(params, (*PRODUCT_PARAMS, "default_price"))
    obj = _apply_product(ctx, ctx.load("product", id), params)
    if "default_price" in params:
        price_id = P.string(params, "default_price")
        if price_id:
            price = ctx.ref("price", price_id, "default_price")
            if price["product"] != id:
                raise InvalidRequest(
                    f"The price `{price_id}` does not belong to product `{id}`.",
                    param="default_price",
                )
        obj["default_price"] = price_id
    obj["updated"] = ctx.now()
    return ctx.tx.put(obj)


def list_products(ctx: Ctx, params: P.Params) -> Obj:
    """List products, newest first."""
    P.check_known(params, (*P.PAGE_PARAMS, "active", "ids", "created", "shippable", "url"))
    ids = P.string_list(params, "ids")
    where = [
        *_bool_where("active", P.boolean(params, "active")),
        *_bool_where("shippable", P.boolean(params, "shippable")),
        *eq_where("url", P.string(params, "url")),
        *([(f"id IN ({', '.join('?' * len(ids))})", ids)] if ids else []),
    ]
    return listing(ctx, "product", "/v1/products", params, where)


# prices -----------------------------------------------------------------


def _claim_lookup_key(ctx: Ctx, key: str | None, transfer: bool, price_id: str) -> None:
    """Make `key` free for `price_id`, moving it off another price only when asked to."""
    if not key:
        return
    holders, _ = ctx.tx.select("price", eq_where("lookup_key", key), limit=1)
    for holder in holders:
        if holder["id"] == price_id:
            continue
        if not transfer:
            raise InvalidRequest(
                f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key"
            )
        holder["lookup_key"] = None
        ctx.tx.put(holder)


def _recurring(params: P.Params) -> Obj | None:
    """Return a price's `recurring` hash from `recurring[...]` parameters."""
    recurring = params.get("recurring")
    if not isinstance(recurring, dict):
        return None
    P.check_known(recurring, ("interval", "interval_count"), "recurring")
    interval = P.required(recurring, "interval", "recurring[interval]")
    P.choice(recurring, "interval", ("day", "week", "month", "year"), "recurring[interval]")
    count = P.integer(recurring, "interval_count", label="recurring[interval_count]", minimum=1)
    return {
        "interval": interval,
        "interval_count": count or 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def new_price(ctx: Ctx, params: P.Params, product_id: str, prefix: str = "") -> Obj:
    """Build (without storing) a price for `product_id` from currency and amount params."""

    def label(name: str) -> str:
        """Name a parameter as the caller sent it (`default_price_data[currency]`)."""
        return f"{prefix}[{name}]" if prefix else name

    currency = str(P.required(params, "currency", label("currency"))).lower()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidRequest(f"Invalid currency: {currency}", param=label("currency"))
    amount = P.integer(params, "unit_amount", label=label("unit_amount"), minimum=0)
    if amount is None and P.string(params, "unit_amount_decimal"):
        amount = P.integer(params, "unit_amount_decimal", label=label("unit_amount_decimal"))
    if amount is None:
        P.required(params, "unit_amount", label("unit_amount"))
    recurring = _recurring(params)
    return objects.price(
        ctx.now(),
        currency=currency,
        unit_amount=amount,
        product=product_id,
        recurring=recurring,
        type="recurring" if recurring else "one_time",
        metadata=P.metadata(params),
    )


def create_price(ctx: Ctx, params: P.Params) -> Obj:
    """Create a price; `transfer_lookup_key=true` takes the lookup key from its holder."""
    P.check_known(
        params,
        (
            "currency",
            "unit_amount",
            "unit_amount_decimal",
            "product",
            "product_data",
            "lookup_key",
            "transfer_lookup_key",
            "nickname",
            "metadata",
            "active",
            "tax_behavior",
            "recurring",
            "billing_scheme",
            "expand",
        ),
    )
    product_id = P.string(params, "product")
    product_data = params.get("product_data")
    if product_id:
        ctx.ref("product", product_id, "product")
    elif isinstance(product_data, dict):
        P.check_known(product_data, ("name", "metadata", "statement_descriptor"), "product_data")
        P.required(product_data, "name", "product_data[name]")
        product = _apply_product(ctx, objects.product(ctx.now()), product_data)
        ctx.tx.put(product)
        product_id = product["id"]
    else:
        raise P.missing("product")
    obj = new_price(ctx, params, product_id)
    obj["nickname"] = P.string(params, "nickname")
    obj["active"] = P.boolean(params, "active") is not False
    obj["tax_behavior"] = (
        P.choice(params, "tax_behavior", ("exclusive", "inclusive", "unspecified")) or "unspecified"
    )
    obj["lookup_key"] = P.string(params, "lookup_key")
    _claim_lookup_key(
        ctx, obj["lookup_key"], P.boolean(params, "transfer_lookup_key") is True, obj["id"]
    )
    return ctx.tx.put(obj)


def retrieve_price(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a price."""
    return ctx.load("price", id)


def update_price(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Update a price's active flag, metadata, nickname or lookup key."""
    P.check_known(params, PRICE_UPDATE_PARAMS)
    obj = ctx.load("price", id)
    if "active" in params:
        obj["active"] = P.boolean(params, "active") is not False
    if "nickname" in params:
        obj["nickname"] = P.string(params, "nickname")
    if "tax_behavior" in params:
        obj["tax_behavior"] = P.choice(
            params, "tax_behavior", ("exclusive", "inclusive", "unspecified")
        )
    if "lookup_key" in params:
        obj["lookup_key"] = P.string(params, "lookup_key")
        transfer = P.boolean(params, "transfer_lookup_key") is True
        _claim_lookup_key(ctx, obj["lookup_key"], transfer, obj["id"])
    obj["metadata"] = P.metadata(params, obj["metadata"])
    return ctx.tx.put(obj)


def list_prices(ctx: Ctx, params: P.Params) -> Obj:
    """List prices, filtered by lookup keys, product, active, currency or type."""
    P.check_known(
        params,
        (*P.PAGE_PARAMS, "active", "currency", "product", "type", "lookup_keys", "created"),
    )
    lookup_keys = P.string_list(params, "lookup_keys")
    if lookup_keys and len(lookup_keys) > 10:
        raise InvalidRequest("You may pass up to 10 lookup keys.", param="lookup_keys")
    currency = P.string(params, "currency")
    where = [
        *_bool_where("active", P.boolean(params, "active")),
        *eq_where("currency", currency.lower() if currency else None),
        *eq_where("product", P.string(params, "product")),
        *eq_where("type", P.choice(params, "type", ("one_time", "recurring"))),
        *in_where("lookup_key", lookup_keys),
    ]
    return listing(ctx, "price", "/v1/prices", params, where)


# customers --------------------------------------------------------------


def _apply_customer(obj: Obj, params: P.Params) -> Obj:
    """Apply the writable customer fields present in `params`."""
    for field in CUSTOMER_TEXT:
        if field in params:
            obj[field] = P.string(params, field)
    if "address" in params:
        address: Any = params["address"]
        if address == "":
            obj["address"] = None
        elif isinstance(address, dict):
            P.check_known(address, objects.NULL_ADDRESS, "address")
            obj["address"] = {**objects.NULL_ADDRESS, **(obj["address"] or {}), **address}
    if "preferred_locales" in params:
        obj["preferred_locales"] = P.string_list(params, "preferred_locales") or []
    obj["metadata"] = P.metadata(params, obj["metadata"])
    return obj


def create_customer(ctx: Ctx, params: P.Params) -> Obj:
    """Create a customer."""
    P.check_known(params, CUSTOMER_PARAMS)
    return ctx.tx.put(_apply_customer(objects.customer(ctx.now()), params))


def retrieve_customer(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return a customer."""
    return ctx.load("customer", id)


def update_customer(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Update a customer."""
    P.check_known(params, CUSTOMER_PARAMS)
    return ctx.tx.put(_apply_customer(ctx.load("customer", id), params))


def list_customers(ctx: Ctx, params: P.Params) -> Obj:
    """List customers, optionally by exact email."""
    P.check_known(params, (*P.PAGE_PARAMS, "email", "created"))
    where = eq_where("email", P.string(params, "email"))
    return listing(ctx, "customer", "/v1/customers", params, where)
