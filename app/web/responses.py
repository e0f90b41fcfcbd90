"""Request helpers shared by blueprints: JSON errors, content negotiation, htmx, safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue

# Where htmx puts an error answer: a stable region in base.html, never the element that asked.
ERROR_REGION = "#error-region"


def wants_json() -> bool:
    """Tell whether the caller is an API client rather than a browser."""
    return request.path.startswith("/api/")


def is_htmx() -> bool:
    """Tell whether htmx asked for a fragment (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def page_or_partial(page_template: str, partial_template: str, /, **context) -> str:
    """Render the partial for an htmx request, the whole page otherwise."""
    return render_template(partial_template if is_htmx() else page_template, **context)


def htmx_redirect(url: str) -> Response:
    """Tell htmx to load another page in the whole window."""
    response = make_response("", 204)
    response.headers["HX-Redirect"] = url
    return response


def json_error(status: int, code: str, message: str) -> ResponseReturnValue:
    """Return the API's error body."""
    return jsonify({"error": {"code": code, "message": message}}), status


def error(status: int, code: str, message: str) -> ResponseReturnValue:
    """Answer an error as JSON for API clients, a fragment for htmx and a page for people."""
    if wants_json():
        return json_error(status, code, message)
    if is_htmx():
        response = make_response(
            render_template("errors/_request_error.html", status=status, message=message), status
        )
        # The error goes to the page's error region, whatever the request's own target was,
        # so a failed poll or purchase never replaces the content it was meant to update.
        response.headers["HX-Retarget"] = ERROR_REGION
        response.headers["HX-Reswap"] = "innerHTML show:top"
        return response
    return render_template("errors/error.html", status=status, code=code, message=message), status


def redirect_for_htmx(response: Response) -> Response:
    """Turn a redirect answering htmx into a full-page navigation.

    The browser follows a 3xx inside htmx's XMLHttpRequest and htmx would swap the whole
    target page (for instance the log-in page after a session expired) into a fragment.
    """
    if is_htmx() and 300 <= response.status_code < 400 and response.location:
        return htmx_redirect(response.location)
    return response


def is_safe_next(target: str | None) -> bool:
    """Accept only a local path as a post-login redirect target."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
