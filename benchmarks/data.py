"""Databases for the benchmark and a bulk loader that keeps the ledger consistent.

PostgreSQL tables are filled with COPY (psycopg 3 `cursor.copy`), SQLite ones with
executemany. Every ledger transaction written here has entries that sum to zero, every
entry's balance_after is its account's running total, each account's cached balance is the
sum of its entries, and a purchase is granted at most once: `flask credits verify-ledger`
passes after any load.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from app.ledger import SALES_ACCOUNT, SPEND_ACCOUNT, Posting, fingerprint, user_account

PASSWORD_HASH = "scrypt:32768:8:1$benchmark$no-password-logs-in"  # noqa: S105 - never matches


# -- databases ------------------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    """Turn a SQLAlchemy PostgreSQL URL into a libpq one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    """Return the same server URL naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """CREATE DATABASE (autocommit) on the server of server_url; return its SQLAlchemy URL."""
    admin = psycopg_url(with_database(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    admin = psycopg_url(with_database(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the bulk loader ------------------------------------------------------------------------

COLUMNS = {
    "users": ("id", "email", "password_hash", "is_admin", "stripe_customer_id", "created_at"),
    "ledger_accounts": ("id", "code", "user_id", "balance", "created_at"),
    "purchases": (
        "id",
        "public_id",
        "user_id",
        "package_id",
        "package_code",
        "package_name",
        "credits",
        "amount_cents",
        "currency",
        "status",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "checkout_expires_at",
        "refunded_cents",
        "last_checked_at",
        "created_at",
        "updated_at",
        "completed_at",
    ),
    "ledger_transactions": (
        "id",
        "idempotency_key",
        "kind",
        "fingerprint",
        "purchase_id",
        "description",
        "actor",
        "created_at",
    ),
    "ledger_entries": (
        "id",
        "transaction_id",
        "account_id",
        "amount",
        "balance_after",
        "created_at",
    ),
}
ORDER = tuple(COLUMNS)  # foreign keys point backwards in this order
TIMESTAMP_COLUMNS = {
    "created_at",
    "updated_at",
    "completed_at",
    "checkout_expires_at",
    "last_checked_at",
}


@dataclass
class Pack:
    id: int
    code: str
    name: str
    credits: int
    price_cents: int
    currency: str


@dataclass
class Made:
    """What a load wrote that the benchmark needs afterwards."""

    user_id: int
    email: str
    purchases: list[str] = field(default_factory=list)  # public ids, oldest first
    session_ids: list[str] = field(default_factory=list)


class Loader:
    """Write users, purchases and ledger transactions in bulk, keeping every invariant."""

    FLUSH_ROWS = 50_000

    def __init__(self, url: str, seed: int = 1) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            self.conn: Any = psycopg.connect(psycopg_url(url))
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60)
        self.rng = random.Random(seed)
        self.rows: dict[str, list[tuple]] = {t: [] for t in ORDER}
        self.next_id = {t: self._scalar(f"SELECT coalesce(max(id), 0) FROM {t}") + 1 for t in ORDER}  # noqa: S608
        self.packs = [
            Pack(*row)
            for row in self._all(
                "SELECT id, code, name, credits, price_cents, currency FROM credit_packages "
                "ORDER BY display_order, id"
            )
        ]
        if not self.packs:
            raise RuntimeError("no credit packs: run `flask credits seed-packages` first")
        self.system: dict[str, list[int]] = {}  # code -> [account id, balance]
        for code in (SALES_ACCOUNT, SPEND_ACCOUNT):
            self.system[code] = self._system_account(code)
        self.user_balances: dict[int, list] = {}  # user id -> [account id, balance, created_at]
        self.entries_written = 0
        self.purchases_written = 0

    # database helpers
    def _execute(self, sql: str, params: tuple = ()) -> Any:
        if not self.postgres:
            sql = sql.replace("%s", "?")
        return self.conn.execute(sql, params)

    def _scalar(self, sql: str, params: tuple = ()) -> Any:
        return self._execute(sql, params).fetchone()[0]

    def _all(self, sql: str, params: tuple = ()) -> list:
        return self._execute(sql, params).fetchall()

    def _system_account(self, code: str) -> list[int]:
        row = self._execute("SELECT id, balance FROM ledger_accounts WHERE code = %s", (code,))
        found = row.fetchone()
        if found is not None:
            return [found[0], int(found[1])]
        account_id = self.next_id["ledger_accounts"]
        self.next_id["ledger_accounts"] += 1
        self._execute(
            "INSERT INTO ledger_accounts (id, code, user_id, balance, created_at) "
            "VALUES (%s, %s, NULL, 0, %s)",
            (account_id, code, self._ts(datetime.now(UTC))),
        )
        return [account_id, 0]

    def _ts(self, value: datetime | None) -> Any:
        if value is None or self.postgres:
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def _take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    # what the benchmark builds from
    def new_user(
        self, *, admin: bool = False, created_at: datetime | None = None, prefix: str = "bench"
    ) -> Made:
        """Start a user (with its ledger account); call end_user() when its rows are added."""
        created_at = created_at or datetime.now(UTC)
        user_id = self._take_id("users")
        email = f"{prefix}-{user_id}@example.com"
        self.rows["users"].append(
            (user_id, email, PASSWORD_HASH, admin, f"cus_bench{user_id}", created_at)
        )
        self.user_balances[user_id] = [self._take_id("ledger_accounts"), 0, created_at]
        return Made(user_id, email)

    def end_user(self, made: Made) -> None:
        """Write the user's account with its final balance; flush when the buffers are full."""
        account_id, balance, created_at = self.user_balances.pop(made.user_id)
        self.rows["ledger_accounts"].append(
            (account_id, user_account(made.user_id), made.user_id, balance, created_at)
        )
        if sum(len(r) for r in self.rows.values()) >= self.FLUSH_ROWS:
            self.flush()

    def public_id(self) -> str:
        return "pur_" + f"{self.rng.getrandbits(96):024x}"

    def purchase(
        self,
        made: Made,
        pack: Pack,
        status: str,
        when: datetime,
        *,
        last_checked_at: datetime | None = None,
    ) -> str:
        """Add a purchase; a completed one gets its grant, as the webhook would write it."""
        purchase_id = self._take_id("purchases")
        public_id = self.public_id()
        session_id = "cs_test_bench_" + public_id[4:]
        completed = status == "completed"
        completed_at = when + timedelta(seconds=30) if completed else None
        self.rows["purchases"].append(
            (purchase_id, public_id, made.user_id, pack.id, pack.code, pack.name, pack.credits)
            + (pack.price_cents, pack.currency, status, session_id)
            + ("pi_bench_" + public_id[4:] if completed else None, when + timedelta(hours=1), 0)
            + (last_checked_at, when, completed_at or when, completed_at)
        )
        self.purchases_written += 1
        made.purchases.append(public_id)
        made.session_ids.append(session_id)
        if completed:
            self._post(
                f"purchase:{public_id}:grant",
                "grant",
                made.user_id,
                pack.credits,
                SALES_ACCOUNT,
                purchase_id=purchase_id,
                description=f"{pack.name} ({pack.credits:,} credits)",
                actor="stripe",
                when=completed_at,
            )
        return public_id

    def spend(self, made: Made, amount: int, when: datetime, n: int) -> None:
        """Spend credits from the user's balance (never below zero)."""
        if amount <= 0 or amount > self.user_balances[made.user_id][1]:
            raise ValueError("a spend must be positive and covered by the balance")
        self._post(
            f"spend:{made.user_id}:bench-{n}",
            "spend",
            made.user_id,
            -amount,
            SPEND_ACCOUNT,
            purchase_id=None,
            description="credits spent",
            actor=f"user:{made.user_id}",
            when=when,
        )

    def balance(self, made: Made) -> int:
        return self.user_balances[made.user_id][1]

    def _post(
        self,
        key: str,
        kind: str,
        user_id: int,
        amount: int,
        system_code: str,
        *,
        purchase_id: int | None,
        description: str,
        actor: str,
        when: datetime,
    ) -> None:
        postings = [Posting(user_account(user_id), amount), Posting(system_code, -amount)]
        txn_id = self._take_id("ledger_transactions")
        self.rows["ledger_transactions"].append(
            (txn_id, key, kind, fingerprint(kind, postings), purchase_id, description, actor, when)
        )
        user_state = self.user_balances[user_id]
        system_state = self.system[system_code]
        # Entries in account-id order, as ledger.post locks and writes them.
        sides = sorted([(user_state, amount), (system_state, -amount)], key=lambda s: s[0][0])
        for state, delta in sides:
            state[1] += delta
            self.rows["ledger_entries"].append(
                (self._take_id("ledger_entries"), txn_id, state[0], delta, state[1], when)
            )
            self.entries_written += 1

    # writing
    def flush(self) -> None:
        """Write the buffered rows, parents before children."""
        for table in ORDER:
            rows = self.rows[table]
            if not rows:
                continue
            columns = COLUMNS[table]
            if self.postgres:
                with self.conn.cursor() as cur:
                    copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                    with cur.copy(copy_sql) as copy:
                        for row in rows:
                            copy.write_row(row)
            else:
                stamps = [i for i, c in enumerate(columns) if c in TIMESTAMP_COLUMNS]
                converted = [
                    tuple(self._ts(v) if i in stamps else v for i, v in enumerate(row))
                    for row in rows
                ]
                marks = ", ".join("?" for _ in columns)
                self.conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    converted,
                )
            rows.clear()

    def finish(self) -> None:
        """Flush, store the system accounts' balances, move the id sequences on, commit."""
        if self.user_balances:
            raise RuntimeError("end_user() was not called for every user")
        self.flush()
        for account_id, balance in self.system.values():
            self._execute(
                "UPDATE ledger_accounts SET balance = %s WHERE id = %s", (balance, account_id)
            )
        if self.postgres:
            for table in ORDER:
                self._execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        self.conn.commit()
        if self.postgres:
            with psycopg.connect(psycopg_url(self.url), autocommit=True) as conn:
                for table in ORDER:
                    conn.execute(f"ANALYZE {table}")
        self.conn.close()


# -- what each phase loads ------------------------------------------------------------------


def pending_purchases(url: str, count: int, *, seed: int, checked: bool) -> list[dict]:
    """Create `count` users, each with one pending purchase (a fresh Checkout Session).

    With `checked`, the purchase was just asked about at Stripe (last_checked_at = now), so
    a status poll does not ask again within STATUS_CHECK_SECONDS.
    """
    loader = Loader(url, seed)
    now = datetime.now(UTC)
    made = []
    for n in range(count):
        user = loader.new_user(created_at=now)
        pack = loader.packs[n % len(loader.packs)]
        public_id = loader.purchase(
            user, pack, "pending", now, last_checked_at=now if checked else None
        )
        loader.end_user(user)
        made.append(
            {
                "user_id": user.user_id,
                "public_id": public_id,
                "session_id": user.session_ids[-1],
                "amount_cents": pack.price_cents,
                "currency": pack.currency,
                "customer": f"cus_bench{user.user_id}",
            }
        )
    loader.finish()
    return made


@dataclass
class FlatData:
    admin: Made
    buyers: list[Made]
    purchases: int
    entries: int


def flat_small(url: str, entries: int, buyers: int = 20, per_buyer: int = 20) -> FlatData:
    """The small data set: an admin and `buyers` users with completed purchases and spends.

    Deterministic, so the same rows (ids included) exist in the small and the large database.
    """
    loader = Loader(url, seed=42)
    base = datetime(2026, 10, 1, tzinfo=UTC)
    admin = loader.new_user(admin=True, created_at=base, prefix="admin")
    loader.end_user(admin)
    grants = buyers * per_buyer
    spends = (entries - 2 * grants) // 2
    if spends < 0:
        raise ValueError("too few entries for the small data set")
    made = []
    n = 0
    for b in range(buyers):
        user = loader.new_user(created_at=base)
        for p in range(per_buyer):
            when = base + timedelta(days=p, minutes=b)
            loader.purchase(user, loader.packs[(b + p) % len(loader.packs)], "completed", when)
        share = spends // buyers + (1 if b < spends % buyers else 0)
        for _ in range(share):
            n += 1
            loader.spend(user, max(1, loader.balance(user) // 50), base + timedelta(days=25), n)
        loader.end_user(user)
        made.append(user)
    loader.finish()
    return FlatData(admin, made, loader.purchases_written, loader.entries_written)


def flat_bulk(url: str, purchases: int, entries: int, per_user: int = 4) -> tuple[int, int]:
    """Add `purchases` purchases and `entries` ledger entries for other users, in bulk.

    Nine purchases in ten are completed (a grant each); the rest failed, expired or canceled.
    Spends fill the ledger up to exactly `entries`, each covered by the buyer's balance.
    """
    loader = Loader(url, seed=7)
    users = max(1, -(-purchases // per_user))
    grants = sum(1 for i in range(purchases) if i % 10 != 9)
    if (entries - 2 * grants) < 0 or entries % 2:
        raise ValueError("entries must be even and cover the grants")
    spends = (entries - 2 * grants) // 2
    start = datetime(2025, 11, 1, tzinfo=UTC)
    step = timedelta(seconds=max(1, int(365 * 86400 / max(purchases, 1))))
    unpaid = ("failed", "expired", "canceled")
    i = 0
    n = 0
    for u in range(users):
        user = loader.new_user(created_at=start + step * i, prefix="bulk")
        for _ in range(per_user):
            if i >= purchases:
                break
            status = "completed" if i % 10 != 9 else unpaid[(i // 10) % 3]
            loader.purchase(user, loader.packs[i % len(loader.packs)], status, start + step * i)
            i += 1
        share = spends // users + (1 if u < spends % users else 0)
        for _ in range(share):
            balance = loader.balance(user)
            n += 1
            loader.spend(user, 1 + loader.rng.randrange(max(1, balance // 20)), start + step * i, n)
        loader.end_user(user)
    loader.finish()
    return loader.purchases_written, loader.entries_written
