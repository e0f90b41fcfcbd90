"""Engine set-up, write transactions that stay correct under concurrency, the append-only
guards, and keyset pagination of queries."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DDL, CursorResult, Engine, Executable, Insert, Select, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.errors import ValidationFailed
from app.extensions import db

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


def dialect_name() -> str:
    return db.session.get_bind().dialect.name


def dialect_insert(model):
    """Return an INSERT for the session's engine, which supports ON CONFLICT DO NOTHING."""
    return (postgresql.insert if dialect_name() == "postgresql" else sqlite.insert)(model)


def insert_ignoring(table: Table, *index_elements: str, dialect: str) -> Insert:
    """Return `INSERT ... ON CONFLICT (index_elements) DO NOTHING` for a dialect, to build once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def run(statement: Executable, params: Any = None) -> CursorResult:
    """Execute a Core statement built once at import, with this call's parameters, on the
    session's connection: the hot paths skip building statements and the ORM's work."""
    return db.session.connection().execute(statement, params)


def engine_options(uri: str, configured: dict) -> dict:
    """Add the engine options the app relies on to the configured ones.

    PostgreSQL connections run reads in autocommit: a read-only request sends its SELECTs
    and nothing else (no BEGIN, no ROLLBACK; READ COMMITTED gives each statement its own
    snapshot either way). Writes get a real transaction from write_transaction().
    """
    options = dict(configured)
    if uri.startswith("postgresql"):
        options.setdefault("isolation_level", "AUTOCOMMIT")
    return options


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


class UnsavedChanges(RuntimeError):
    """A transaction block began while the session held changes made outside one."""


def _begin(options: dict[str, Any]) -> Session | None:
    """Begin a transaction with these connection options on the session; None when a write
    transaction is already running (the caller's block then joins it)."""
    session = db.session()
    if session.info.get("writing"):
        return None
    changed = [obj for obj in session.dirty if session.is_modified(obj)]
    if session.new or changed or session.deleted:
        # Changes made outside any transaction block would be committed by whichever
        # transaction came next, as part of a change they do not belong to.
        raise UnsavedChanges(
            "the session holds changes made outside a transaction block: "
            f"{len(session.new)} new, {len(changed)} changed, "
            f"{len(session.deleted)} deleted"
        )
    if session.in_transaction():
        # End the read transaction (every request has one from the user loader) so the new
        # one starts, and takes its locks, afresh; it wrote nothing, so nothing is lost.
        session.rollback()
    session.connection(execution_options=options)
    return session


@contextmanager
def consistent_read() -> Iterator[Session]:
    """Run a block of reads against one snapshot of the database (REPEATABLE READ on
    PostgreSQL; SQLite's read transaction is one snapshot already)."""
    snapshot = {"isolation_level": "REPEATABLE READ"} if dialect_name() == "postgresql" else {}
    session = _begin(snapshot)
    if session is None:
        yield db.session()
        return
    try:
        yield session
    finally:
        session.rollback()


_WRITE_OPTIONS = {
    "sqlite": {"sqlite_immediate": True},
    "postgresql": {"isolation_level": "READ COMMITTED"},
}


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run a block as one write transaction; commit on success, roll back on error.

    On SQLite the transaction starts with BEGIN IMMEDIATE, so two writers never
    both read and then both write; on PostgreSQL the autocommit connection becomes a
    READ COMMITTED transaction until commit. Nested use joins the outer transaction.
    """
    session = _begin(_WRITE_OPTIONS[dialect_name()])
    if session is None:
        yield db.session()
        return
    session.info["writing"] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info["writing"] = False


# Keyset pagination: `?limit=` and an opaque `?cursor=`, newest first.
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(value: int) -> str:
    """Return the opaque cursor that continues a listing below this id."""
    return base64.urlsafe_b64encode(f"p{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
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
        query = query.where(key < decode_cursor(cursor))
    rows = db.session.execute(query.add_columns(key).order_by(key.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][1]) if len(rows) > limit else None
    return Page([row[0] for row in page], next_cursor)
