"""The append-only audit trail: who did what to which subject, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from app.db import run
from app.extensions import db
from app.models import AuditLog, utcnow

_INSERT = insert(AuditLog.__table__)


def record(
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """Write an audit record in the current transaction."""
    run(
        _INSERT,
        {
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "before": before,
            "after": after,
            "note": note,
            "created_at": utcnow(),
        },
    )


def trail(subject_type: str, subject_id: object, limit: int = 50) -> list[AuditLog]:
    """Return the newest audit records about one subject."""
    return list(
        db.session.scalars(
            select(AuditLog)
            .where(AuditLog.subject_type == subject_type, AuditLog.subject_id == str(subject_id))
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
    )
