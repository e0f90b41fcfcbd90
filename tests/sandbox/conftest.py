"""Fixtures for the Stripe sandbox: apps on a temp state file, a live server, SDK clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe
from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.test import Client

from stripe_sandbox import Sandbox, WSGIHTTPClient, create_app

WEBHOOK_URL = "http://hooks.test/stripe/webhook"
SECRET = "whsec_test_current"
SECRETS = f"{SECRET},whsec_test_previous"
BASE = "http://127.0.0.1:5000/stripe-sandbox"


@dataclass
class Recorder:
    """A WEBHOOK_TRANSPORT that keeps every delivery and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.calls.append((url, headers, body))
        return self.statuses.pop(0) if self.statuses else 200

    @property
    def events(self) -> list[dict[str, Any]]:
        """Return the delivered event bodies in arrival order."""
        return [json.loads(body) for _, _, body in self.calls]

    @property
    def types(self) -> list[str]:
        """Return the delivered event types in arrival order."""
        return [event["type"] for event in self.events]


AppFactory = Callable[..., Flask]


@pytest.fixture
def recorder() -> Recorder:
    """Return the transport the default sandbox app delivers into."""
    return Recorder()


@pytest.fixture
def make_sandbox(tmp_path: Path, recorder: Recorder) -> Iterator[AppFactory]:
    """Return a factory of sandbox apps with test settings; every app is closed afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "STATE_PATH": str(tmp_path / "sandbox.sqlite3"),
            "PUBLIC_URL": BASE,
            "WEBHOOK_URL": WEBHOOK_URL,
            "WEBHOOK_SECRET": SECRETS,
            "WEBHOOK_TRANSPORT": recorder,
            "DELIVERY_DELAY": 0,
            "DELIVERY_BACKOFF": 0,
            "START_WORKER": False,
            "BANK_TRANSFER_SETTLE_SECONDS": 10,
            **overrides,
        }
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["stripe_sandbox"].close()


@pytest.fixture
def sandbox_app(make_sandbox: AppFactory) -> Flask:
    """Return a sandbox app with test settings."""
    return make_sandbox()


@pytest.fixture
def sandbox(sandbox_app: Flask) -> Sandbox:
    """Return the Sandbox behind `sandbox_app`."""
    return sandbox_app.extensions["stripe_sandbox"]


@pytest.fixture
def web(sandbox_app: Flask) -> Client:
    """Return a test browser for the hosted pages, mounted at /stripe-sandbox like the app does."""
    return Client(DispatcherMiddleware(NotFound(), {"/stripe-sandbox": sandbox_app}))


@pytest.fixture
def stripe_client(sandbox_app: Flask) -> Iterator[stripe.StripeClient]:
    """Return a stripe-python client that reaches the sandbox in-process (no server)."""
    http_client = WSGIHTTPClient(sandbox_app, BASE)
    yield stripe.StripeClient(
        api_key="sk_test_x",
        http_client=http_client,
        base_addresses={"api": BASE},
        max_network_retries=0,
    )
    http_client.close()


@pytest.fixture
def live_url(sandbox_app: Flask) -> Iterator[str]:
    """Serve the sandbox app on 127.0.0.1 (port 0) in a thread and return its URL."""
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def live_client(live_url: str) -> Iterator[stripe.StripeClient]:
    """Return a stripe-python client talking HTTP to the live sandbox server."""
    http_client = stripe.RequestsClient()
    yield stripe.StripeClient(
        api_key="sk_test_x",
        http_client=http_client,
        base_addresses={"api": live_url},
        max_network_retries=0,
    )
    http_client.close()


@dataclass
class Shop:
    """A product with a price, as the app's catalog sync would create them."""

    product: stripe.Product
    price: stripe.Price


def make_shop(client: stripe.StripeClient, amount: int = 1000, key: str = "pro") -> Shop:
    """Create a product and a one-time price with a lookup key."""
    product = client.v1.products.create(params={"name": "Pro Pack", "metadata": {"code": key}})
    price = client.v1.prices.create(
        params={"product": product.id, "unit_amount": amount, "currency": "usd", "lookup_key": key}
    )
    return Shop(product, price)


def make_session(client: stripe.StripeClient, shop: Shop, **params: Any) -> Any:
    """Create a Checkout Session the way the app does."""
    return client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": shop.price.id, "quantity": 1}],
            "success_url": "http://localhost/checkout/return?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://localhost/checkout/cancel",
            "client_reference_id": "purchase_1",
            "metadata": {"purchase_id": "purchase_1"},
            "payment_intent_data": {"metadata": {"purchase_id": "purchase_1"}},
            **params,
        }
    )


def helper(client: stripe.StripeClient, path: str, **params: Any) -> Any:
    """POST to a sandbox test helper and return the decoded object."""
    return client.deserialize(client.raw_request("post", path, **params), api_mode="V1")


def pay(client: stripe.StripeClient, session_id: str, **params: Any) -> Any:
    """Pay a session through the test helper (card=..., payment_method=bank_transfer ...)."""
    return helper(client, f"/v1/test_helpers/checkout/sessions/{session_id}/pay", **params)


def client_for(app: Any) -> stripe.StripeClient:
    """Return an in-process SDK client for a sandbox app."""
    return stripe.StripeClient(
        api_key="sk_test_x",
        http_client=WSGIHTTPClient(app, BASE),
        base_addresses={"api": BASE},
        max_network_retries=0,
    )


def expire_sessions(client: stripe.StripeClient, count: int) -> list[str]:
    """Create and expire `count` sessions; return the ids of their events in order."""
    shop = make_shop(client)
    for _ in range(count):
        client.v1.checkout.sessions.expire(make_session(client, shop).id)
    events = client.v1.events.list(params={"limit": 100}).data
    return [e.id for e in reversed(events)]


class Receiver:
    """A WSGI webhook endpoint that records bodies and answers with scripted statuses."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            k[5:].replace("_", "-").title(): v for k, v in environ.items() if k[:5] == "HTTP_"
        }
        with self.lock:
            self.received.append((headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        start_response(f"{status} Status", [("Content-Type", "text/plain")])
        return [b"ok"]


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    """Serve a Receiver on 127.0.0.1 and return (url, receiver)."""
    endpoint = Receiver()
    server = make_server("127.0.0.1", 0, endpoint, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/stripe", endpoint
    server.shutdown()
    server.server_close()
    thread.join(5)
