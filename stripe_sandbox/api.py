"""The `/v1` HTTP API: auth, routing, idempotency, expansion and Stripe's JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from . import catalog, events, objects, payments, refunds, sessions
from . import params as P
from .config import API_VERSION
from .context import Ctx
from .errors import AuthenticationFailed, IdempotencyConflict, InvalidRequest, StripeError
from .objects import Obj
from .sandbox import Sandbox

bp = Blueprint("api", __name__)

Handler = Callable[..., Obj]


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/products", catalog.create_product),
    ("GET", "/v1/products", catalog.list_products),
    ("GET", "/v1/products/<id>", catalog.retrieve_product),
    ("POST", "/v1/products/<id>", catalog.update_product),
    ("POST", "/v1/prices", catalog.create_price),
    ("GET", "/v1/prices", catalog.list_prices),
    ("GET", "/v1/prices/<id>", catalog.retrieve_price),
    ("POST", "/v1/prices/<id>", catalog.update_price),
    ("POST", "/v1/customers", catalog.create_customer),
    ("GET", "/v1/customers", catalog.list_customers),
    ("GET", "/v1/customers/<id>", catalog.retrieve_customer),
    ("POST", "/v1/customers/<id>", catalog.update_customer),
    ("POST", "/v1/checkout/sessions", sessions.create_session),
    ("GET", "/v1/checkout/sessions", sessions.list_sessions),
    ("GET", "/v1/checkout/sessions/<id>", sessions.retrieve_session),
    ("POST", "/v1/checkout/sessions/<id>", sessions.update_session),
    ("POST", "/v1/checkout/sessions/<id>/expire", sessions.expire_session),
    ("GET", "/v1/checkout/sessions/<id>/line_items", sessions.list_line_items),
    ("GET", "/v1/payment_intents", payments.list_payment_intents),
    ("GET", "/v1/payment_intents/<id>", payments.retrieve_payment_intent),
    ("GET", "/v1/charges", payments.list_charges),
    ("GET", "/v1/charges/<id>", payments.retrieve_charge),
    ("GET", "/v1/payment_methods/<id>", payments.retrieve_payment_method),
    ("POST", "/v1/refunds", refunds.create_refund),
    ("GET", "/v1/refunds", refunds.list_refunds),
    ("GET", "/v1/refunds/<id>", refunds.retrieve_refund),
    ("POST", "/v1/refunds/<id>", refunds.update_refund),
    ("GET", "/v1/disputes", refunds.list_disputes),
    ("GET", "/v1/disputes/<id>", refunds.retrieve_dispute),
    ("GET", "/v1/events", events.list_events),
    ("GET", "/v1/events/<id>", events.retrieve_event),
    ("POST", "/v1/test_helpers/checkout/sessions/<id>/pay", payments.helper_pay),
    ("POST", "/v1/test_helpers/bank_transfers/<id>/settle", payments.helper_settle),
    ("POST", "/v1/test_helpers/charges/<id>/dispute", refunds.helper_open_dispute),
    ("POST", "/v1/test_helpers/disputes/<id>/close", refunds.helper_close_dispute),
    ("POST", "/v1/test_helpers/refunds/<id>/fail", refunds.helper_fail_refund),
]
URL_MAP = Map(
    [Rule(path, endpoint=handler, methods=[method]) for method, path, handler in ROUTES],
    strict_slashes=False,
)

EXPANDABLE = {
    "customer",
    "payment_intent",
    "latest_charge",
    "charge",
    "product",
    "default_price",
    "price",
    "payment_method",
    "balance_transaction",
    "failure_balance_transaction",
    "invoice",
    "subscription",
    "setup_intent",
    "payment_link",
    "review",
    "application",
    "on_behalf_of",
    "test_clock",
    "default_source",
}


def sandbox() -> Sandbox:
    """Return the Sandbox of the current app."""
    return current_app.extensions["stripe_sandbox"]


def public_url() -> str:
    """Return the absolute base URL the sandbox is reachable at."""
    configured = sandbox().settings.public_url
    return configured or request.url_root.rstrip("/")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return pretty JSON as Stripe sends it, with its response headers."""
    response = Response(
        json.dumps(body, indent=2) + "\n", status=status, mimetype="application/json"
    )
    response.headers["Stripe-Version"] = API_VERSION
    response.headers["Request-Id"] = request.environ["stripe_sandbox.request_id"]
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _api_key() -> str:
    """Return the API key of the request: Bearer token or Basic username (curl -u)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value).decode().partition(":")[0]
        except ValueError:
            key = ""
    if not key:
        raise AuthenticationFailed(
            "You did not provide an API key. You need to provide your API key in the"
            " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
            " YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details,"
            " or we can help at https://support.stripe.com/."
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
        raise AuthenticationFailed(f"Invalid API Key provided: {masked}")
    return key


def expand(ctx: Ctx, obj: Obj, paths: list[str]) -> Obj:
    """Replace ids by objects along each `a.b.c` path, as `expand[]` asks."""
    for path in paths:
        _expand(ctx, obj, path.split("."))
    return obj


def _expand(ctx: Ctx, obj: Obj, parts: list[str]) -> None:
    """Expand one path below `obj`."""
    head, rest = parts[0], parts[1:]
    if obj.get("object") == "list" and head == "data":
        for item in obj["data"]:
            if rest:
                _expand(ctx, item, rest)
        return
    if obj.get("object") == "checkout.session" and head == "line_items":
        stored = ctx.tx.get(obj["id"]) or obj
        obj["line_items"] = sessions.session_line_items(ctx, stored, {"limit": "100"})
    elif obj.get("object") == "charge" and head == "refunds":
        url = f"/v1/charges/{obj['id']}/refunds"
        where = catalog.eq_where("charge", obj["id"])
        obj["refunds"] = catalog.listing(ctx, "refund", url, {"limit": "100"}, where)
    elif head in EXPANDABLE and head in obj:
        value = obj[head]
        if isinstance(value, str):
            target = ctx.tx.get(value)
            if target is not None:
                obj[head] = objects.public(target)
    else:
        raise InvalidRequest(f"This property cannot be expanded ({head}).", param="expand")
    value = obj.get(head)
    if rest and isinstance(value, dict):
        _expand(ctx, value, rest)


def _params() -> P.Params:
    """Return the request's parameters: query string, plus the form body for POST."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    return P.parse(pairs)


def _expand_paths(params: P.Params) -> list[str]:
    """Pop and return `expand[]` paths."""
    paths = params.pop("expand", None)
    if paths is None or paths == "":
        return []
    return [paths] if isinstance(paths, str) else [str(p) for p in paths]


@bp.route("/v1/", defaults={"path": ""}, methods=["GET", "POST", "DELETE"])
@bp.route("/v1/<path:path>", methods=["GET", "POST", "DELETE"])
def dispatch(path: str) -> Response:
    """Route a Stripe API request to its handler."""
    _api_key()
    try:
        handler, args = URL_MAP.bind("").match(f"/v1/{path}", method=request.method)
    except (NotFound, MethodNotAllowed):
        raise InvalidRequest(
            f"Unrecognized request URL ({request.method}: /v1/{path}). Please see"
            " https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404,
        ) from None
    box = sandbox()
    box.tick()
    params = _params()
    if request.method == "GET":
        paths = _expand_paths(params)
        with box.read(public_url()) as ctx:
            return json_response(expand(ctx, objects.public(handler(ctx, params, **args)), paths))
    return _write(box, handler, params, args)


@bp.post("/v1/test_helpers/clock/advance")
def advance_clock() -> Response:
    """Test helper: move the sandbox clock forward `seconds`; due expiries and settlements run."""
    _api_key()
    params = _params()
    P.check_known(params, ("seconds", "expand"))
    P.required(params, "seconds")
    seconds = P.integer(params, "seconds", minimum=0)
    box = sandbox()
    offset = box.advance_clock(float(seconds or 0))
    return json_response(
        {"object": "sandbox.clock", "offset": int(offset), "now": int(box.clock())}
    )


@bp.post("/v1/test_helpers/webhooks/flush")
def flush_webhooks() -> Response:
    """Test helper: deliver every pending webhook now and answer when done."""
    _api_key()
    P.check_known(_params(), ("expand",))
    box = sandbox()
    delivered = box.flush()
    with box.store.read() as tx:
        pending = tx.pending_delivery_count()
    return json_response(
        {"object": "sandbox.webhook_flush", "delivered": delivered, "pending": pending}
    )


def _write(box: Sandbox, handler: Handler, params: P.Params, args: dict[str, str]) -> Response:
    """Run a POST in one transaction, replaying or refusing reused idempotency keys."""
    key = request.headers.get("Idempotency-Key")
    endpoint = f"{request.method} {request.path.removeprefix(request.script_root)}"
    canonical = json.dumps(params, sort_keys=True)
    request_id = request.environ["stripe_sandbox.request_id"]
    paths = _expand_paths(params)
    with box.write(public_url(), request_id, key) as ctx:
        saved = ctx.tx.idempotent_response(key) if key else None
        if saved:
            saved_endpoint, saved_params, status, body, original = saved
            if saved_endpoint != endpoint:
                raise IdempotencyConflict(
                    "Keys for idempotent requests can only be used for the same endpoint they"
                    f" were first used for ('{saved_endpoint}' vs '{endpoint}'). Try using a key"
                    f" other than '{key}' if you meant to execute a different request."
                )
            if saved_params != canonical:
                raise IdempotencyConflict(
                    "Keys for idempotent requests can only be used with the same parameters they"
                    f" were first used with. Try using a key other than '{key}' if you meant to"
                    " execute a different request."
                )
            response = Response(body, status=status, mimetype="application/json")
            response.headers.update(
                {
                    "Stripe-Version": API_VERSION,
                    "Request-Id": request_id,
                    "Idempotency-Key": key,
                    "Idempotent-Replayed": "true",
                    "Original-Request": original,
                }
            )
            return response
        try:
            status, payload = 200, expand(ctx, objects.public(handler(ctx, params, **args)), paths)
        except StripeError as error:
            if not error.commit:
                raise
            status, payload = error.status, error.body(request_id)
        text = json.dumps(payload, indent=2) + "\n"
        if key:
            ctx.tx.save_idempotent_response(key, endpoint, canonical, status, text, request_id)
    return json_response(payload, status, {"Idempotency-Key": key} if key else {})
