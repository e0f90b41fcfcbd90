"""The app on its mounted Stripe sandbox, and a driver for the sandbox's test helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.domain.packs import seed_packages
from tests.helpers.apps import make_app
from tests.helpers.builders import sync_packs
from tests.helpers.databases import database_url


class SandboxDriver:
    """Drives the app's mounted Stripe sandbox through its test helpers, as a script would."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.box = app.extensions["stripe_sandbox"]

    def helper(self, path: str, **form: Any) -> tuple[int, dict[str, Any]]:
        response = self.client.post(
            f"/stripe-sandbox/v1/test_helpers/{path}",
            data=form,
            headers={"Authorization": "Bearer sk_test_script"},
        )
        return response.status_code, response.get_json()

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(
            f"/stripe-sandbox/v1/{path}", headers={"Authorization": "Bearer sk_test_script"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def pay(self, session_id: str, card: str = "4242 4242 4242 4242", **form: Any):
        return self.helper(f"checkout/sessions/{session_id}/pay", card=card, **form)

    def flush(self) -> int:
        return self.box.flush()

    def advance(self, seconds: int) -> None:
        self.helper("clock/advance", seconds=seconds)
        self.box.tick()


def sandbox_app_for(tmp_path: Path, engine: str = "sqlite", **overrides: Any) -> Flask:
    """An app on the offline Stripe sandbox (no Stripe key), packs seeded and synced."""
    settings = {
        "STRIPE_SECRET_KEY": None,
        "SANDBOX_DELIVERY_DELAY": 0,
        "SANDBOX_DELIVERY_BACKOFF": 0,
        "SANDBOX_START_WORKER": False,
        **overrides,
    }
    app = make_app(database_url(engine, tmp_path), tmp_path, **settings)
    with app.app_context():
        seed_packages()
        sync_packs()
    return app
