"""Transaction blocks start clean: stray ORM changes are refused, a read is rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from app.db import UnsavedChanges, consistent_read, write_transaction
from app.extensions import db
from app.models import AuditLog, User
from tests.helpers.builders import PASSWORD_HASH, make_user


def _users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("block", [write_transaction, consistent_read])
def test_a_block_refuses_changes_made_outside_one(db_app, block):
    with db_app.app_context():
        db.session.add(User(email="stray@example.com", password_hash=PASSWORD_HASH))
        with pytest.raises(UnsavedChanges, match="1 new"), block():
            pytest.fail("the block ran")
        db.session.rollback()
        assert _users() == 0


def test_a_block_refuses_a_changed_row_but_not_an_unchanged_one(db_app):
    with db_app.app_context():
        user = make_user()
        user.is_admin = user.is_admin  # set, but no net change
        with write_transaction():
            pass
        user.is_admin = True
        with pytest.raises(UnsavedChanges, match="1 changed"), write_transaction():
            pass
        db.session.rollback()
        assert db.session.get(User, user.id).is_admin is False


def test_an_open_read_is_rolled_back_not_committed(db_app):
    with db_app.app_context():
        make_user()
        seen: list[str] = []
        session = db.session()
        on_commit = lambda _s: seen.append("commit")  # noqa: E731
        on_rollback = lambda _s: seen.append("rollback")  # noqa: E731
        event.listen(session, "after_commit", on_commit)
        event.listen(session, "after_rollback", on_rollback)
        try:
            db.session.scalar(select(User.id))  # a request's user load opens a read
            with write_transaction() as tx:
                tx.add(AuditLog(actor="test", action="probe", subject_type="t", subject_id="1"))
        finally:
            event.remove(session, "after_commit", on_commit)
            event.remove(session, "after_rollback", on_rollback)
        assert seen == ["rollback", "commit"]
        probes = select(func.count()).select_from(AuditLog).where(AuditLog.action == "probe")
        assert db.session.scalar(probes) == 1
