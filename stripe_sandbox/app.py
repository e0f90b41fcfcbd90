"""The sandbox's WSGI app factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request

from . import api, checkout
from .config import DEFAULTS, Settings
from .errors import StripeError
from .objects import new_id
from .sandbox import Sandbox

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the sandbox app; its Sandbox is `app.extensions["stripe_sandbox"]`."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    box = Sandbox(Settings.from_config(app.config))
    app.extensions["stripe_sandbox"] = box
    app.register_blueprint(api.bp)
    app.register_blueprint(checkout.bp)

    @app.before_request
    def start_request() -> None:
        """Name the request and make sure this process runs a delivery worker."""
        request.environ["stripe_sandbox.request_id"] = new_id("req_", 14)
        box.ensure_worker()

    @app.errorhandler(StripeError)
    def stripe_error(error: StripeError) -> Response:
        """Answer with Stripe's error JSON and status code."""
        request_id = request.environ.get("stripe_sandbox.request_id")
        return api.json_response(error.body(request_id), error.status)

    @app.errorhandler(500)
    def server_error(error: Exception) -> Response:
        """Answer unexpected failures as Stripe's api_error."""
        log.error("stripe sandbox failed: %s", getattr(error, "original_exception", error))
        body = {"error": {"type": "api_error", "message": "An unknown error occurred"}}
        return api.json_response(body, 500)

    return app
