"""Security headers for every response the app itself makes.

The Stripe sandbox is mounted beside the app (DispatcherMiddleware) and sets its own headers.
"""

from __future__ import annotations

from flask import Flask, Response

STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def content_security_policy(app: Flask) -> str:
    """Return the CSP: no inline script or style, no eval, forms only to us and Checkout."""
    form_action = ["'self'"]
    if not app.config.get("STRIPE_SANDBOX"):
        # The Buy now form answers 303 to Checkout, and Chromium checks form-action against
        # every redirect after a form POST. The sandbox's checkout page is same-origin.
        form_action.append(STRIPE_CHECKOUT_ORIGIN)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
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
    # Development and the tests run on plain http://127.0.0.1; everywhere else is HTTPS.
    hsts = app.config["APP_ENV"] not in ("development", "testing")

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
