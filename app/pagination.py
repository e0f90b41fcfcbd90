"""Keyset pagination: `?limit=` and an opaque `?cursor=`, newest first."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from app.errors import ValidationFailed
from app.extensions import db

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def _encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"p{value}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("p"):
            raise ValueError(cursor)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not valid") from exc


def parse_limit(raw: str | None) -> int:
    """Parse ?limit= (default 20, at most 100)."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def paginate(query: Select, key, limit: int, cursor: str | None) -> Page:
    """Keyset-paginate a one-entity query on an increasing id column, newest first."""
    if cursor:
        query = query.where(key < _decode_cursor(cursor))
    rows = db.session.execute(query.add_columns(key).order_by(key.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1][1]) if len(rows) > limit else None
    return Page([row[0] for row in page], next_cursor)
