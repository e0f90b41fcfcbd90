"""Security headers for every response."""

from __future__ import annotations

from flask import Flask, Response


def content_security_policy(app: Flask) -> str:
    """Return the CSP: no inline script or style, no eval, forms only to us and Checkout."""
    form_action = ["'self'"]
    if app.config["APP_ENV"] == "production":
        form_action.append("https://checkout.stripe.com")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            f"form-action {' '.join(form_action)}",
        ]
    )


def register(app: Flask) -> None:
    """Add the security headers after each request."""
    csp = content_security_policy(app)
    hsts = app.config["APP_ENV"] == "production"

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if hsts:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
            )
        return response
