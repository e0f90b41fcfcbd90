"""Map domain errors and HTTP errors to JSON for API clients and pages for people."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import DomainError
from app.extensions import csrf
from app.web.responses import error, redirect_for_htmx

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
}

CSRF_EXEMPT_ENDPOINTS = {"webhooks.stripe_webhook"}
ANONYMOUS_FORMS = {"auth.login", "auth.register"}


def register(app: Flask) -> None:
    """Install the CSRF check, the error handlers and htmx-aware redirects."""
    app.after_request(redirect_for_htmx)

    @app.before_request
    def check_csrf() -> None:
        """Protect every cookie-authenticated unsafe request; bearer calls are exempt."""
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return
        if g.get("token_auth") or request.endpoint in CSRF_EXEMPT_ENDPOINTS:
            return
        if not current_user.is_authenticated and request.endpoint not in ANONYMOUS_FORMS:
            # Nothing to forge without a session; login_required answers 401 or redirects.
            return
        csrf.protect()

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return error(exc.status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error(
            400,
            "csrf_failed",
            "The form expired or was not sent from this site; reload and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status == 429:
            message = "Too many requests in a short time. Wait a minute, then try again."
        else:
            message = exc.description or exc.name
        return error(status, HTTP_CODES.get(status, "error"), message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error(
            500, "internal_error", "Something went wrong on our side; nothing was changed."
        )
