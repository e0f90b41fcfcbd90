"""SQLite state shared by every thread and process that runs the sandbox."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type_seq ON objects (type, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,
    lease_owner TEXT,
    last_status INTEGER,
    last_error TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    due_at REAL NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kind, object_id)
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Delivery:
    """One attempt-tracked copy of an event on its way to the webhook endpoint."""

    id: int
    event_id: str
    url: str
    attempts: int


@dataclass(frozen=True)
class Timer:
    """Something that becomes due at a sandbox-clock time (expiry, bank settlement)."""

    id: int
    kind: str
    object_id: str
    due_at: float
    data: dict[str, Any]


class Store:
    """Opens short-lived SQLite connections: WAL, busy_timeout, BEGIN IMMEDIATE for writes."""

    def __init__(self, path: str) -> None:
        self.path = path
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)  # IF NOT EXISTS: safe when several processes start at once
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        """Open a connection in autocommit mode, so transactions are explicit."""
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """Run a write transaction that holds the database write lock from its start."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Run a read-only transaction over one consistent snapshot."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                yield Tx(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()


class Tx:
    """Queries over one open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only this block's writes if it raises."""
        self.conn.execute("SAVEPOINT block")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO block")
            self.conn.execute("RELEASE block")
            raise
        self.conn.execute("RELEASE block")

    # objects -------------------------------------------------------------

    def get(self, object_id: str) -> dict[str, Any] | None:
        """Return the stored object with this id, or None."""
        row = self.conn.execute("SELECT data FROM objects WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace an object (keeps its list position) and return it."""
        self.conn.execute(
            "INSERT INTO objects (id, type, created, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (obj["id"], obj["object"], obj.get("created") or 0, json.dumps(obj)),
        )
        return obj

    def select(
        self,
        type_: str,
        where: Sequence[tuple[str, Sequence[Any]]] = (),
        *,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Page through one type newest first; `where` holds SQL fragments over `data`."""
        clauses = ["type = ?"]
        args: list[Any] = [type_]
        for sql, values in where:
            clauses.append(sql)
            args.extend(values)
        ascending = False
        for cursor, op in ((starting_after, "<"), (ending_before, ">")):
            if cursor:
                clauses.append(f"seq {op} (SELECT seq FROM objects WHERE id = ?)")  # noqa: S608
                args.append(cursor)
                ascending = op == ">"
        order = "ASC" if ascending else "DESC"
        # the fragments are the sandbox's own SQL; every value is a bound parameter
        condition = " AND ".join(clauses)
        sql = f"SELECT data FROM objects WHERE {condition} ORDER BY seq {order} LIMIT ?"  # noqa: S608
        rows = self.conn.execute(sql, [*args, limit + 1]).fetchall()
        items = [json.loads(r[0]) for r in rows[:limit]]
        if ascending:
            items.reverse()
        return items, len(rows) > limit

    # meta ----------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        """Return a stored setting such as the clock offset."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def clock_offset(self) -> float:
        """Return how far the sandbox clock runs ahead of real time, in seconds."""
        return float(self.meta("clock_offset", "0") or 0)

    # idempotency ---------------------------------------------------------

    def idempotent_response(self, key: str) -> sqlite3.Row | tuple[Any, ...] | None:
        """Return (endpoint, params, status, body, request_id) saved for a key."""
        return self.conn.execute(
            "SELECT endpoint, params, status, body, request_id FROM idempotency WHERE key = ?",
            (key,),
        ).fetchone()

    def save_idempotent_response(
        self, key: str, endpoint: str, params: str, status: int, body: str, request_id: str
    ) -> None:
        """Remember the first response given for an idempotency key."""
        self.conn.execute(
            "INSERT INTO idempotency (key, endpoint, params, status, body, request_id, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, endpoint, params, status, body, request_id, time.time()),
        )

    # timers --------------------------------------------------------------

    def set_timer(
        self, kind: str, object_id: str, due_at: float, data: dict[str, Any] | None = None
    ) -> None:
        """Schedule (or reschedule) work for an object at a sandbox-clock time."""
        self.conn.execute(
            "INSERT INTO timers (kind, object_id, due_at, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, object_id) DO UPDATE SET due_at = excluded.due_at,"
            " data = excluded.data",
            (kind, object_id, due_at, json.dumps(data or {})),
        )

    def get_timer(self, kind: str, object_id: str) -> Timer | None:
        """Return the pending timer of a kind for an object."""
        row = self.conn.execute(
            "SELECT id, kind, object_id, due_at, data FROM timers WHERE kind = ? AND object_id = ?",
            (kind, object_id),
        ).fetchone()
        return Timer(row[0], row[1], row[2], row[3], json.loads(row[4])) if row else None

    def clear_timer(self, kind: str, object_id: str) -> None:
        """Forget a timer that no longer applies."""
        self.conn.execute("DELETE FROM timers WHERE kind = ? AND object_id = ?", (kind, object_id))

    def due_timers(self, now: float) -> list[Timer]:
        """Return timers due at or before `now`, earliest first."""
        rows = self.conn.execute(
            "SELECT id, kind, object_id, due_at, data FROM timers WHERE due_at <= ?"
            " ORDER BY due_at, id",
            (now,),
        ).fetchall()
        return [Timer(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # deliveries ----------------------------------------------------------

    def add_delivery(self, event_id: str, url: str, due_at: float) -> None:
        """Queue one delivery of an event."""
        self.conn.execute(
            "INSERT INTO deliveries (event_id, url, next_attempt_at, created) VALUES (?, ?, ?, ?)",
            (event_id, url, due_at, time.time()),
        )

    def claim_deliveries(
        self, owner: str, now: float, *, due_only: bool, shuffle: bool = False, limit: int = 1
    ) -> list[Delivery]:
        """Lease pending deliveries nobody else holds, so each has one attempt at a time."""
        sql = (
            "SELECT id FROM deliveries WHERE status = 'pending'"
            " AND (lease_until IS NULL OR lease_until < :now)"
        )
        if due_only:
            sql += " AND next_attempt_at <= :now"
        sql += " ORDER BY random()" if shuffle else " ORDER BY next_attempt_at, id"
        update = (
            "UPDATE deliveries SET lease_until = :lease, lease_owner = :owner"  # noqa: S608
            f" WHERE id IN ({sql} LIMIT :limit) RETURNING id, event_id, url, attempts"
        )
        rows = self.conn.execute(
            update,
            {"now": now, "lease": now + LEASE_SECONDS, "owner": owner, "limit": limit},
        ).fetchall()
        return sorted((Delivery(*r) for r in rows), key=lambda d: d.id)

    def finish_delivery(
        self,
        delivery_id: int,
        *,
        status: str,
        attempts: int,
        next_attempt_at: float,
        last_status: int | None,
        last_error: str | None,
    ) -> None:
        """Record an attempt's outcome and release the lease."""
        self.conn.execute(
            "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?,"
            " last_error = ?, lease_until = NULL, lease_owner = NULL WHERE id = ?",
            (status, attempts, next_attempt_at, last_status, last_error, delivery_id),
        )

    def pending_delivery_count(self) -> int:
        """Return how many deliveries are still waiting to succeed or give up."""
        row = self.conn.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'")
        return int(row.fetchone()[0])

    def deliveries_for(self, event_id: str) -> list[dict[str, Any]]:
        """Return the delivery rows of one event (for tests and pending_webhooks)."""
        cur = self.conn.execute(
            "SELECT id, status, attempts, last_status, last_error FROM deliveries"
            " WHERE event_id = ? ORDER BY id",
            (event_id,),
        )
        keys = ("id", "status", "attempts", "last_status", "last_error")
        return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]
