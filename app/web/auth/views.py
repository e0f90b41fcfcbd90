"""Register, log in and log out."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.domain import users
from app.errors import DomainError, Forbidden
from app.extensions import limiter
from app.web.auth.forms import LoginForm, RegisterForm
from app.web.responses import is_safe_next

bp = Blueprint("auth", __name__)


def admin_required(view):
    """Allow only logged-in admins; others get 403 (or log in first)."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            raise Forbidden("admins only")
        return view(*args, **kwargs)

    return wrapper


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _email_key() -> str:
    return "login:" + request.form.get("email", "").strip().lower()


def _next_url() -> str:
    target = request.args.get("next")
    return target if is_safe_next(target) else url_for("catalog.buy")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_email_key)
def login():
    """Show the log-in form and log the user in."""
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_next_url())
        form.password.errors.append("Email or password is incorrect.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def register():
    """Create an account and log in."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(form.email.data, form.password.data, actor="self")
        except DomainError as exc:
            form.email.errors.append(
                "An account with this email already exists." if exc.status == 409 else exc.message
            )
        else:
            login_user(user)
            flash("Welcome! Your account is ready.")
            return redirect(url_for("catalog.buy"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    """Log out and return to the log-in page."""
    logout_user()
    return redirect(url_for("auth.login"))
