"""Reads of the benchmark's databases in plain SQL (psycopg or sqlite3), apart from the app."""

from __future__ import annotations

import sqlite3

import psycopg

from .data import psycopg_url
from .harness import BenchFailure


def connect(database_url: str):
    if database_url.startswith("postgresql"):
        return psycopg.connect(psycopg_url(database_url))
    return sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=60)


def query(database_url: str, sql: str, params: tuple = ()) -> list:
    """Run one statement (`%s` placeholders on either engine); return its rows."""
    conn = connect(database_url)
    try:
        if not database_url.startswith("postgresql"):
            sql = sql.replace("%s", "?")
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def ledger_counts(database_url: str) -> tuple[int, int, int]:
    """Ledger entries, ledger transactions and Stripe event rows."""
    (row,) = query(
        database_url,
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_transactions),"
        " (SELECT count(*) FROM stripe_events)",
    )
    return tuple(int(v) for v in row)


def recorded_event_ids(database_url: str) -> set[str]:
    return {row[0] for row in query(database_url, "SELECT event_id FROM stripe_events")}


def completed_owners(database_url: str, public_ids: list[str], limit: int) -> list[tuple]:
    """(user id, public id) of up to `limit` of these purchases that completed."""
    wanted = set(public_ids)
    rows = query(
        database_url,
        "SELECT user_id, public_id FROM purchases WHERE status = 'completed' ORDER BY id",
    )
    found = [(u, p) for u, p in rows if p in wanted][:limit]
    if len(found) < min(limit, 1):
        raise BenchFailure("no completed purchases to poll")
    return found


def table_sizes(database_url: str) -> dict[str, int]:
    (row,) = query(
        database_url,
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM purchases), "
        "(SELECT count(*) FROM users)",
    )
    return {"ledger_entries": int(row[0]), "purchases": int(row[1]), "users": int(row[2])}


def deep_purchase_id(database_url: str, depth: float = 0.75) -> tuple[int, int]:
    """The id of the completed purchase `depth` of the way down, newest first, and its offset."""
    ((count,),) = query(database_url, "SELECT count(*) FROM purchases WHERE status = 'completed'")
    offset = int(count * depth)
    ((row_id,),) = query(
        database_url,
        "SELECT id FROM purchases WHERE status = 'completed' ORDER BY id DESC OFFSET %s LIMIT 1",
        (offset,),
    )
    return int(row_id), offset
