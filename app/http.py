"""Request helpers shared by blueprints: JSON errors, content negotiation, safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue


def wants_json() -> bool:
    """Tell whether the caller is an API client rather than a browser."""
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str) -> ResponseReturnValue:
    """Return the API's error body."""
    return jsonify({"error": {"code": code, "message": message}}), status


def error(status: int, code: str, message: str) -> ResponseReturnValue:
    """Answer an error as JSON for API clients and as a page for people."""
    if wants_json():
        return json_error(status, code, message)
    return render_template("errors/error.html", status=status, code=code, message=message), status


def is_safe_next(target: str | None) -> bool:
    """Accept only a local path as a post-login redirect target."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
