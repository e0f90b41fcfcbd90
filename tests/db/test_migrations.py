"""`flask db upgrade` on an empty database builds exactly the models' schema, guards included."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import ledger
from app.extensions import db
from tests.helpers.apps import dispose, make_app
from tests.helpers.builders import make_user
from tests.helpers.databases import ENGINES, database_url


@pytest.mark.parametrize("engine", ENGINES)
def test_upgrade_matches_the_models(engine, tmp_path):
    app = make_app(database_url(engine, tmp_path), tmp_path, create_schema=False)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
            assert diff == []
            user = make_user()
            ledger.adjust(user, 5, "migrated", actor="test")
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text("DELETE FROM ledger_entries"))
            db.session.rollback()
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text("UPDATE audit_logs SET actor = 'x'"))
            db.session.rollback()
            assert ledger.verify() == []
    finally:
        dispose(app)
