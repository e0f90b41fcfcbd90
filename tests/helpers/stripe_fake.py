"""A small stateful fake of Stripe's HTTP API on top of `responses`, for unit tests."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

API = "https://api.stripe.com"


def parse_form(body: str | bytes | None) -> dict[str, Any]:
    """Turn Stripe's bracketed form encoding into nested dicts and lists."""
    if isinstance(body, bytes):
        body = body.decode()
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body or "", keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            container: Any = [] if nxt is not None and (nxt.isdigit() or nxt == "[]") else {}
            if isinstance(node, list):
                index = len(node) if part == "[]" else int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    node[index] = node[index] if node[index] is not None else container
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, container)
    return result


class FakeStripe:
    """Keeps products, prices, customers and checkout sessions; counts every call."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.fail_next: dict[str, int] = {}
        self.charge_of: dict[str, str] = {}
        self.failed_events: list[dict[str, Any]] = []
        # Called with (method, path) in the calling thread before each call is answered.
        self.on_call: Callable[[str, str], None] | None = None
        self._ids = itertools.count(1)
        routes = [
            ("POST", r"/v1/products$", self.create_product),
            ("GET", r"/v1/products$", self.list_of("product")),
            ("GET", r"/v1/products/(?P<id>[^/]+)$", self.retrieve),
            ("POST", r"/v1/products/(?P<id>[^/]+)$", self.update),
            ("POST", r"/v1/prices$", self.create_price),
            ("GET", r"/v1/prices$", self.list_prices),
            ("GET", r"/v1/prices/(?P<id>[^/]+)$", self.retrieve),
            ("POST", r"/v1/prices/(?P<id>[^/]+)$", self.update),
            ("POST", r"/v1/customers$", self.create_customer),
            ("POST", r"/v1/checkout/sessions$", self.create_session),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)$", self.retrieve),
            ("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire$", self.expire_session),
            ("GET", r"/v1/charges/(?P<id>[^/]+)$", self.retrieve),
            ("GET", r"/v1/disputes/(?P<id>[^/]+)$", self.retrieve),
            ("POST", r"/v1/refunds$", self.create_refund),
            ("GET", r"/v1/checkout/sessions$", self.list_of("checkout.session")),
            ("GET", r"/v1/refunds$", self.list_of("refund")),
            ("GET", r"/v1/disputes$", self.list_of("dispute")),
            ("GET", r"/v1/events$", self.list_events),
        ]
        for method, pattern, handler in routes:
            mock.add_callback(
                method,
                re.compile(API + pattern[:-1] + r"(\?.*)?$"),
                self._wrap(method, pattern, handler),
            )

    # -- plumbing --------------------------------------------------------
    def _wrap(self, method: str, pattern: str, handler):
        regex = re.compile(pattern)

        def callback(request):
            url = urlsplit(request.url)
            params = parse_form(request.body if method == "POST" else url.query)
            match = regex.search(url.path)
            key = request.headers.get("Idempotency-Key")
            self.calls.append((method, url.path, params, key))
            if self.on_call is not None:
                self.on_call(method, url.path)
            name = handler.__name__
            if self.fail_next.get(name):
                self.fail_next[name] -= 1
                return 500, {}, json.dumps({"error": {"type": "api_error", "message": "boom"}})
            if key and key in self.idempotent:
                return self.idempotent[key][0], {}, json.dumps(self.idempotent[key][1])
            status, body = handler(params, **match.groupdict())
            if key:
                self.idempotent[key] = (status, body)
            return status, {"Content-Type": "application/json"}, json.dumps(body)

        return callback

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def calls_to(self, method: str, path_regex: str) -> list:
        return [c for c in self.calls if c[0] == method and re.search(path_regex, c[1])]

    @staticmethod
    def not_found(object_id: str):
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such object: '{object_id}'",
            }
        }

    # -- resources -------------------------------------------------------
    def retrieve(self, params, id):
        obj = self.objects.get(id)
        return (200, obj) if obj else self.not_found(id)

    def update(self, params, id):
        obj = self.objects.get(id)
        if obj is None:
            return self.not_found(id)
        for key, value in params.items():
            if key == "active":
                obj["active"] = value == "true"
            elif key == "metadata":
                obj["metadata"].update(value)
            elif key != "expand":
                obj[key] = value
        return 200, obj

    def list_of(self, kind):
        def list_objects(params):
            since = int((params.get("created") or {}).get("gte", 0))
            data = [
                o
                for o in self.objects.values()
                if o["object"] == kind and o.get("created", time.time()) >= since
            ]
            return 200, {"object": "list", "data": data, "has_more": False, "url": f"/v1/{kind}s"}

        list_objects.__name__ = f"list_{kind}"
        return list_objects

    def list_events(self, params):
        data = list(self.failed_events) if params.get("delivery_success") == "false" else []
        return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/events"}

    def create_product(self, params):
        obj = {
            "id": self.new_id("prod"),
            "object": "product",
            "name": params["name"],
            "description": params.get("description"),
            "active": params.get("active", "true") == "true",
            "metadata": params.get("metadata", {}),
        }
        self.objects[obj["id"]] = obj
        return 200, obj

    def create_price(self, params):
        lookup = params.get("lookup_key")
        if lookup and params.get("transfer_lookup_key") == "true":
            for other in self.objects.values():
                if other["object"] == "price" and other.get("lookup_key") == lookup:
                    other["lookup_key"] = None
        obj = {
            "id": self.new_id("price"),
            "object": "price",
            "active": True,
            "currency": params["currency"],
            "unit_amount": int(params["unit_amount"]),
            "product": params["product"],
            "lookup_key": lookup,
            "type": "one_time",
            "metadata": params.get("metadata", {}),
        }
        self.objects[obj["id"]] = obj
        return 200, obj

    def list_prices(self, params):
        keys = params.get("lookup_keys") or []
        data = [
            o
            for o in self.objects.values()
            if o["object"] == "price" and o.get("lookup_key") in keys
        ]
        return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}

    def create_customer(self, params):
        obj = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
        }
        self.objects[obj["id"]] = obj
        return 200, obj

    def create_session(self, params):
        price = self.objects.get(params["line_items"][0]["price"])
        if price is None:
            return self.not_found(params["line_items"][0]["price"])
        session_id = "cs_test_" + self.new_id("x")[2:]
        obj = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": price["unit_amount"],
            "currency": price["currency"],
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "expires_at": int(params.get("expires_at") or time.time() + 3600),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "livemode": False,
        }
        self.objects[session_id] = obj
        return 200, obj

    def expire_session(self, params, id):
        obj = self.objects.get(id)
        if obj is None:
            return self.not_found(id)
        if obj["status"] != "open":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "Only Checkout Sessions with a status of open can be expired.",
                }
            }
        obj["status"] = "expired"
        return 200, obj

    # -- test controls ---------------------------------------------------
    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """Mark a session complete, as Stripe does when the buyer pays."""
        obj = self.objects[session_id]
        intent = self.add_charge(obj["amount_total"], obj["currency"])
        obj.update(status="complete", payment_status=payment_status, payment_intent=intent)
        return obj

    def add_charge(self, amount: int, currency: str = "usd", intent: str | None = None) -> str:
        """Create a succeeded charge (and its payment intent id); return the intent id."""
        intent = intent or self.new_id("pi")
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "payment_intent": intent,
            "refunded": False,
            "disputed": False,
            "status": "succeeded",
        }
        self.objects[charge["id"]] = charge
        self.charge_of[intent] = charge["id"]
        return intent

    def charge_for(self, intent: str) -> dict[str, Any]:
        return self.objects[self.charge_of[intent]]

    def create_refund(self, params):
        if "payment_intent" in params:
            charge = self.charge_for(params["payment_intent"])
        else:
            charge = self.objects[params["charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount", left))
        if amount > left:
            error = {"type": "invalid_request_error", "code": "amount_too_large"}
            return 400, {"error": {**error, "message": "Refund amount exceeds what is left."}}
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
        }
        self.objects[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return 200, refund

    def refund(self, intent: str, amount: int) -> dict[str, Any]:
        """Refund part of a charge, as the Dashboard would."""
        return self.create_refund({"payment_intent": intent, "amount": str(amount)})[1]

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.objects[refund_id]
        refund["status"] = "failed"
        charge = self.objects[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        return refund

    def dispute(self, intent: str, status: str = "needs_response") -> dict[str, Any]:
        charge = self.charge_for(intent)
        dispute = {
            "id": self.new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"] - charge["amount_refunded"],
            "charge": charge["id"],
            "payment_intent": intent,
            "status": status,
        }
        self.objects[dispute["id"]] = dispute
        charge["disputed"] = True
        return dispute
