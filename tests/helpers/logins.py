"""Logging test clients in through the form, with the CSRF token every page carries."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.helpers.builders import PASSWORD

CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    """Pull the CSRF token out of a rendered page (every page carries it for htmx)."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


class Auth:
    """Log test clients in and out."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self) -> str:
        """Return a CSRF token valid for this client's session."""
        return csrf_from(self.client.get("/login", follow_redirects=True).get_data(as_text=True))

    def login(
        self,
        email: str = "buyer@example.com",
        password: str = PASSWORD,
        next_url: str | None = None,
    ):
        token = self.csrf()
        url = "/login" + (f"?next={next_url}" if next_url else "")
        return self.client.post(
            url, data={"email": email, "password": password, "csrf_token": token}
        )
