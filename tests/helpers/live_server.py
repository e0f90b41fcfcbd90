"""Pieces of a live server for an app that can only be built once the port is known."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler


class DeferredApp:
    """A WSGI app that is set after the server has bound its port."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if self.app is None:
            # The app is built once the server knows its port; until then, "not yet".
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return self.app(environ, start_response)


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Keep the test output free of one line per request."""
