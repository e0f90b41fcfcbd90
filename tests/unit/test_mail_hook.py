"""The outbox's commit hook is installed by the app factory, never by an import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_mail_installs_no_hook_and_create_app_installs_it(tmp_path):
    script = textwrap.dedent(
        f"""
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        import app.domain.mail as mail
        from app.extensions import db

        session_class = db.session.session_factory.class_
        hooks = [("after_commit", mail._after_commit), ("after_rollback", mail._after_rollback)]
        for cls in (Session, session_class):
            assert not any(event.contains(cls, n, h) for n, h in hooks), "installed on import"

        from app import create_app

        config = {{"SQLALCHEMY_DATABASE_URI": "sqlite://", "INSTANCE_PATH": {str(tmp_path)!r}}}
        create_app(config)
        create_app(config)
        assert all(event.contains(session_class, n, h) for n, h in hooks), "not installed"
        assert not event.contains(Session, "after_commit", mail._after_commit)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
