"""WSGIHTTPClient: the SDK reaching the sandbox in-process, mounting, and the CLI entry point."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stripe
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from stripe_sandbox import WSGIHTTPClient
from stripe_sandbox import __main__ as cli
from tests.helpers.sandbox_sdk import AppFactory, make_session, make_shop


def test_sdk_works_without_a_server(make_sandbox: AppFactory) -> None:
    app = make_sandbox(PUBLIC_URL=None)
    base = "http://127.0.0.1:5000/stripe-sandbox"
    client = stripe.StripeClient(
        api_key="sk_test_anything",
        http_client=WSGIHTTPClient(app, base),
        base_addresses={"api": base},
        max_network_retries=0,
    )
    session = make_session(client, make_shop(client))
    assert session.url == f"{base}/checkout/{session.id}"  # derived from the request
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.retrieve("cs_test_missing")
    assert exc.value.http_status == 404
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            api_key="pk_test_public",
            http_client=WSGIHTTPClient(app, base),
            base_addresses={"api": base},
        ).v1.products.list()


def test_urls_outside_the_base_are_refused(sandbox_app: Flask) -> None:
    client = stripe.StripeClient(
        api_key="sk_test_x",
        http_client=WSGIHTTPClient(sandbox_app, "http://127.0.0.1:5000/stripe-sandbox"),
        base_addresses={"api": "http://127.0.0.1:5000/elsewhere"},
        max_network_retries=0,
    )
    with pytest.raises(stripe.APIConnectionError):
        client.v1.products.list()


def test_mounted_under_a_dispatcher(make_sandbox: AppFactory) -> None:
    sandbox_app = make_sandbox(PUBLIC_URL=None)
    host = Flask("host")
    host.wsgi_app = DispatcherMiddleware(host.wsgi_app, {"/stripe-sandbox": sandbox_app})  # type: ignore[method-assign]
    browser = host.test_client()
    auth = {"Authorization": "Bearer sk_test_x"}
    created = browser.post(
        "/stripe-sandbox/v1/products", data={"name": "Pro"}, headers=auth
    ).get_json()
    assert created["id"].startswith("prod_")
    fetched = browser.get(f"/stripe-sandbox/v1/products/{created['id']}", headers=auth)
    assert fetched.get_json()["name"] == "Pro"
    price = browser.post(
        "/stripe-sandbox/v1/prices",
        data={"product": created["id"], "unit_amount": "500", "currency": "usd"},
        headers=auth,
    ).get_json()
    session = browser.post(
        "/stripe-sandbox/v1/checkout/sessions",
        data={
            "mode": "payment",
            "line_items[0][price]": price["id"],
            "line_items[0][quantity]": "1",
        },
        headers=auth,
    ).get_json()
    assert session["url"] == f"http://localhost/stripe-sandbox/checkout/{session['id']}"


def test_cli_builds_and_serves_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    served: dict[str, Any] = {}

    def fake_run_simple(host: str, port: int, app: Flask, **kwargs: Any) -> None:
        served.update(host=host, port=port, app=app)
        box = app.extensions["stripe_sandbox"]
        assert box.worker_running
        box.close()

    monkeypatch.setattr(cli, "run_simple", fake_run_simple)
    state = tmp_path / "state.sqlite3"
    cli.main(
        [
            *("--port", "4242", "--state", str(state)),
            *("--webhook-url", "http://127.0.0.1:1/wh", "--webhook-secret", "whsec_a,whsec_b"),
        ]
    )
    assert (served["host"], served["port"]) == ("127.0.0.1", 4242)
    settings = served["app"].extensions["stripe_sandbox"].settings
    assert settings.webhook_url == "http://127.0.0.1:1/wh"
    assert settings.signing_secret == "whsec_a"
    assert state.exists()


def test_stream_and_async_entry_points(sandbox_app: Flask) -> None:
    base = "http://127.0.0.1:5000/stripe-sandbox"
    http_client = WSGIHTTPClient(sandbox_app, base)
    headers = {"Authorization": "Bearer sk_test_x"}
    stream, status, response_headers = http_client.request_stream(
        "get", f"{base}/v1/products?limit=1", headers
    )
    assert status == 200
    assert b'"object": "list"' in stream.read()
    assert response_headers["stripe-version"] == stripe.api_version  # case-insensitive
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    body, status, _ = asyncio.run(
        http_client.request_async("post", f"{base}/v1/customers", form, "email=a%40b.c")
    )
    assert status == 200 and b"a@b.c" in body
