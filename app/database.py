"""Engine set-up and write transactions that stay correct under concurrency."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import DDL, Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .extensions import db

APPEND_ONLY_TABLES = ("ledger_transactions", "ledger_entries", "audit_logs")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$
"""


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """Return the statements that make the database refuse UPDATE and DELETE on a table."""
    if dialect == "postgresql":
        return [
            _PG_FUNCTION,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()",
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]
    raise NotImplementedError(f"no append-only guard for {dialect}")


def attach_append_only_guards(metadata) -> None:
    """Emit the append-only triggers whenever create_all builds the guarded tables."""
    for name in APPEND_ONLY_TABLES:
        table = metadata.tables[name]
        for dialect in ("postgresql", "sqlite"):
            for statement in append_only_ddl(dialect, name):
                # DDL() formats its text with %, so the literal % signs are doubled.
                ddl = DDL(statement.replace("%", "%%")).execute_if(dialect=dialect)
                event.listen(table, "after_create", ddl)


def dialect_insert(model):
    """Return an INSERT for the session's engine, which supports ON CONFLICT DO NOTHING."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def configure_engine(engine: Engine) -> None:
    """Give SQLite WAL, a busy timeout and BEGIN IMMEDIATE for write transactions."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN so writes can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run a block as one write transaction; commit on success, roll back on error.

    On SQLite the transaction starts with BEGIN IMMEDIATE, so two writers never
    both read and then both write. Nested use joins the outer transaction.
    """
    session = db.session()
    if session.info.get("writing"):
        yield session
        return
    if session.in_transaction():
        # End any read transaction so the write one takes its lock before reading.
        session.commit()
    session.info["writing"] = True
    try:
        session.connection(execution_options={"sqlite_immediate": True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info["writing"] = False
