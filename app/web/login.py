"""Who is asking: the session's user (Flask-Login) or an API bearer token, never both."""

from __future__ import annotations

from flask import Flask, g, redirect, request, url_for
from flask_login import AnonymousUserMixin
from sqlalchemy import bindparam, select

from app.domain.users import user_for_token
from app.extensions import db, login_manager
from app.models import User
from app.web.responses import json_error, wants_json

# Built once: every logged-in request runs it, and Session.get builds its query each time.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def load_user(user_id: str) -> User | None:
    """Return the user a session cookie names."""
    return db.session.scalar(_USER_BY_ID, {"user_id": int(user_id)})


def unauthorized():
    """Answer a request that needs a user: 401 for the API, the log-in page for people."""
    if wants_json():
        return json_error(401, "unauthenticated", "log in or send a bearer token")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def authenticate_bearer() -> None:
    """Authenticate API calls that carry a bearer token, and only by it."""
    header = request.headers.get("Authorization", "")
    g.token_auth = header[:7].lower() == "bearer "
    if g.token_auth:
        # Flask-Login reads the request's user from g._login_user.
        g._login_user = user_for_token(header[7:].strip()) or AnonymousUserMixin()


def register(app: Flask) -> None:
    """Bind Flask-Login and the bearer-token check to the app."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)
    app.before_request(authenticate_bearer)
