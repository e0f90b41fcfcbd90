"""Refuse text no request may carry: a NUL character anywhere in a decoded value.

PostgreSQL cannot store NUL in text and SQLite stores it silently, so it is refused before any
view runs, in path arguments, query and form fields (names and values) and JSON bodies. The
signed webhook reads its raw body itself and checks its events' shapes on its own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

UNGUARDED_ENDPOINTS = {"webhooks.stripe_webhook"}


def carries_nul(value: Any) -> bool:
    """Tell whether a decoded value, or anything nested in it, contains a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(carries_nul(k) or carries_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(carries_nul(item) for item in value)
    return False


def refuse_nul() -> None:
    """Answer 400 for a request whose path, query, form or JSON body holds a NUL."""
    if request.endpoint in UNGUARDED_ENDPOINTS:
        return
    values: list[Any] = [request.path, request.view_args or {}]
    values += [list(request.args.items(multi=True))]
    if request.mimetype == "application/json":
        values.append(request.get_json(silent=True))
    elif request.method not in ("GET", "HEAD", "OPTIONS"):
        values.append(list(request.form.items(multi=True)))
    if any(carries_nul(value) for value in values):
        raise BadRequest("Text may not contain NUL characters; nothing was changed.")


def register(app: Flask) -> None:
    """Check every request before CSRF and the views see it."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_nul)
