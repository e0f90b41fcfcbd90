"""Users and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.db import write_transaction
from app.domain import audit
from app.errors import LedgerConflict, NotFound, ValidationFailed
from app.extensions import db
from app.ledger import ensure_account, user_account
from app.models import ApiToken, User, utcnow

TOKEN_PREFIX = "crd_"  # noqa: S105 - a public marker, not a secret
MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    """Return the canonical form of an address, or raise ValidationFailed."""
    try:
        result = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"invalid email address: {exc}") from exc
    return result.normalized.lower()


def find_user(email: str) -> User | None:
    """Return the user with this email, if any."""
    try:
        email = normalise_email(email)
    except ValidationFailed:
        return None
    return db.session.scalar(select(User).where(User.email == email))


def get_user(email: str) -> User:
    """Return the user with this email or raise NotFound."""
    user = find_user(email)
    if user is None:
        raise NotFound(f"no user with email {email!r}")
    return user


def create_user(
    email: str, password: str, *, is_admin: bool = False, actor: str = "system"
) -> User:
    """Create a user with a ledger account, audited."""
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user = User(email=email, is_admin=is_admin)
    user.set_password(password)
    with write_transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise LedgerConflict(f"a user with email {email} already exists")
        session.add(user)
        session.flush()
        ensure_account(user_account(user.id), user.id)
        audit.record(
            actor, "user.created", "user", user.id, after={"email": email, "is_admin": is_admin}
        )
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user when the email and password match, else None."""
    user = find_user(email)
    if user is None or not user.check_password(password):
        return None
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str = "", *, actor: str = "system") -> str:
    """Create an API token for a user and return it; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction() as session:
        row = ApiToken(user_id=user.id, name=name, prefix=token[:10], token_hash=_hash_token(token))
        session.add(row)
        session.flush()
        audit.record(
            actor, "token.created", "user", user.id, after={"token_id": row.id, "name": name}
        )
    return token


def revoke_token(token_id: int, *, actor: str) -> None:
    """Revoke an API token, audited."""
    with write_transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound("no such token")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(actor, "token.revoked", "user", row.user_id, after={"token_id": row.id})


def user_for_token(token: str) -> User | None:
    """Return the owner of a live API token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row.user


def search_users(query: str, limit: int = 50) -> list[User]:
    """Return users whose email contains the query, alphabetically."""
    query = (query or "").strip().lower()
    statement = select(User).order_by(User.email).limit(limit)
    if query:
        statement = statement.where(User.email.contains(query, autoescape=True))
    return list(db.session.scalars(statement))


def live_tokens(user: User) -> list[ApiToken]:
    """Return a user's API tokens that are not revoked, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )
