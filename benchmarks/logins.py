"""Credentials as a real log-in makes them: signed session cookies and bearer tokens."""

from __future__ import annotations

from flask import session
from flask_login import login_user

from app.domain.users import issue_token
from app.extensions import db
from app.models import User

from .config import USER_AGENT


def session_cookie(app, user_id: int) -> str:
    """The signed session cookie a real log-in from the benchmark's wrk would carry."""
    with app.test_request_context(
        "/", headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ):
        login_user(db.session.get(User, user_id))
        value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        db.session.remove()
    return value


def bearer_token(app, user_id: int) -> str:
    """A new API token of the user, as the developers page issues one."""
    with app.app_context():
        token = issue_token(db.session.get(User, user_id), "benchmark")
        db.session.remove()
    return token


def poll_lines(app, owners: list[tuple], query: str = "") -> list[tuple]:
    """Status-partial requests of logged-in buyers, each for their own purchase."""
    return [
        (
            f"/credits/purchase/{public_id}/status{query}",
            {"Cookie": f"session={session_cookie(app, user_id)}", "HX-Request": "true"},
        )
        for user_id, public_id in owners
    ]
