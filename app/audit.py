"""The append-only audit trail: who did what to which subject, before and after."""

from __future__ import annotations

from typing import Any

from .extensions import db
from .models import AuditLog


def record(
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditLog:
    """Add an audit record to the current transaction."""
    entry = AuditLog(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        note=note,
    )
    db.session.add(entry)
    return entry
