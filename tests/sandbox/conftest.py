"""Fixtures for the Stripe sandbox: apps on a temp state file, a live server, SDK clients."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
from tests.helpers.sandbox_sdk import BASE, SECRETS, WEBHOOK_URL, AppFactory
from tests.helpers.webhook_receivers import Receiver, Recorder


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
