"""Run against the offline Stripe sandbox when no Stripe key is set (development and tests).

The sandbox is mounted under /stripe-sandbox in the same server; the app's Stripe
client reaches it in-process, and its delivery worker posts signed events to the
webhook in-process too, so a single sync worker never waits on itself.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from app.config import persistent_secret

MOUNT = "/stripe-sandbox"
SANDBOX_KEY = "sk_test_sandbox"
WEBHOOK_PATH = "/api/v1/billing/credits/webhook"


def sandbox_wanted(app: Flask) -> bool:
    """Use the sandbox in development and tests whenever no Stripe key is configured."""
    return app.config["APP_ENV"] in ("development", "testing") and not app.config.get(
        "STRIPE_SECRET_KEY"
    )


def install(app: Flask) -> None:
    """Mount the sandbox and point the Stripe client and webhook secret at it."""
    import stripe_sandbox

    base = app.config["APP_BASE_URL"] + MOUNT
    secret = app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        testing = app.config["APP_ENV"] == "testing"
        secret = (
            "whsec_" + secrets.token_hex(16)
            if testing
            else "whsec_" + persistent_secret(Path(app.instance_path), "webhook_secret")
        )
    app.config.update(
        STRIPE_SANDBOX=True,
        STRIPE_SECRET_KEY=SANDBOX_KEY,
        STRIPE_WEBHOOK_SECRET=secret,
        STRIPE_API_BASE=base,
    )

    def deliver_in_process(url: str, headers: dict[str, str], body: bytes) -> int:
        """Post a signed event straight into this app's webhook view."""
        with app.test_client() as client:
            return client.post(urlsplit(url).path, data=body, headers=headers).status_code

    options = {
        key.removeprefix("SANDBOX_"): value
        for key, value in app.config.items()
        if key.startswith("SANDBOX_")
    }
    sandbox_app = stripe_sandbox.create_app(
        {
            "STATE_PATH": str(Path(app.instance_path) / "stripe_sandbox.sqlite3"),
            "PUBLIC_URL": base,
            "WEBHOOK_URL": app.config["APP_BASE_URL"] + WEBHOOK_PATH,
            "WEBHOOK_SECRET": secret,
            "WEBHOOK_TRANSPORT": deliver_in_process,
            "MERCHANT_NAME": "Credits",
            **options,
        }
    )
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {MOUNT: sandbox_app})
    app.extensions["stripe_sandbox_app"] = sandbox_app
    app.extensions["stripe_sandbox"] = sandbox_app.extensions["stripe_sandbox"]
    app.extensions["stripe_http_client"] = stripe_sandbox.WSGIHTTPClient(sandbox_app, base)
