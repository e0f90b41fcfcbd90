"""Posting to the ledger: the only code that moves credits.

Every movement is a ledger transaction of entries that sum to zero, named by a
unique idempotency key. Entries are append-only (the database refuses UPDATE and
DELETE); each account keeps a cached balance updated in the same transaction.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, bindparam, insert, select, update

from app.db import dialect_name, insert_ignoring, run, write_transaction
from app.domain import audit
from app.errors import InsufficientCredits, LedgerConflict, ValidationFailed
from app.extensions import db
from app.ledger.accounts import (
    ADJUSTMENTS_ACCOUNT,
    KINDS,
    OVERDRAFT_KINDS,
    account_owner,
    check_credits,
    ensure_account,
    user_account,
)
from app.ledger.balances import balance
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction, User, utcnow


@dataclass(frozen=True)
class Posting:
    account: str
    amount: int


@dataclass(frozen=True)
class Posted:
    transaction_id: int
    created: bool  # False when the key was already used: an idempotent replay
    # Each account's balance right after this transaction (only when it was created here).
    balances: Mapping[str, int] = field(default_factory=dict)

    @property
    def transaction(self) -> LedgerTransaction:
        return db.session.get(LedgerTransaction, self.transaction_id)


def fingerprint(kind: str, postings: Iterable[Posting]) -> str:
    """Hash what a ledger transaction does, to tell a replay from a conflict."""
    totals: Counter[str] = Counter()
    for posting in postings:
        totals[posting.account] += posting.amount
    body = kind + ";" + ";".join(f"{a}={n}" for a, n in sorted(totals.items()) if n)
    return hashlib.sha256(body.encode()).hexdigest()


def _validate(kind: str, postings: Sequence[Posting]) -> None:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown ledger transaction kind {kind!r}")
    if len(postings) < 2:
        raise ValidationFailed("a ledger transaction needs at least two postings")
    for posting in postings:
        check_credits(posting.amount, "a posting amount", signed=True)
    if sum(p.amount for p in postings) != 0:
        raise ValidationFailed("a ledger transaction's postings must sum to zero")


def _existing(key: str, fp: str) -> LedgerTransaction | None:
    found = db.session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    )
    if found is not None and found.fingerprint != fp:
        raise LedgerConflict(f"idempotency key {key!r} was already used for different entries")
    return found


_accounts = LedgerAccount.__table__
_MOVE = (
    update(_accounts)
    .where(_accounts.c.code == bindparam("account"))
    .values(balance=_accounts.c.balance + bindparam("amount", type_=BigInteger))
    .returning(_accounts.c.id, _accounts.c.balance)
)
# A debit that needs funds: the row is only changed while the balance covers it.
_MOVE_COVERED = _MOVE.where(_accounts.c.balance >= -bindparam("amount", type_=BigInteger))
_INSERT_ENTRIES = insert(LedgerEntry.__table__)


@functools.cache
def _insert_transaction(dialect: str):
    table = LedgerTransaction.__table__
    return insert_ignoring(table, "idempotency_key", dialect=dialect).returning(table.c.id)


def _needs_funds(posting: Posting, kind: str) -> bool:
    user = posting.account.startswith("user:")
    return posting.amount < 0 and user and kind not in OVERDRAFT_KINDS


def _move(posting: Posting, kind: str) -> tuple[int, int] | None:
    """Add a posting to its account's cached balance; return (account id, balance after),
    or None when the account is missing or a debit that needs funds would overdraw it."""
    statement = _MOVE_COVERED if _needs_funds(posting, kind) else _MOVE
    row = run(statement, {"account": posting.account, "amount": posting.amount}).first()
    return None if row is None else (row[0], row[1])


def post(
    key: str,
    kind: str,
    postings: Sequence[Posting],
    *,
    purchase_id: int | None = None,
    description: str = "",
    actor: str = "system",
) -> Posted:
    """Record a ledger transaction in the caller's transaction, once per key.

    The same key with the same entries returns the original; with other entries
    it raises LedgerConflict. A user account can only go negative for the kinds
    in OVERDRAFT_KINDS; otherwise InsufficientCredits is raised and the caller's
    transaction must be rolled back (write_transaction does that).
    """
    _validate(kind, postings)
    fp = fingerprint(kind, postings)
    now = utcnow()
    # Insert first: the key's unique index tells a replay from a new transaction, so the
    # common case needs no look-up.
    txn_id = run(
        _insert_transaction(dialect_name()),
        {
            "idempotency_key": key,
            "kind": kind,
            "fingerprint": fp,
            "purchase_id": purchase_id,
            "description": description,
            "actor": actor,
            "created_at": now,
        },
    ).scalar()
    if txn_id is None:
        # The key was used before (or by a concurrent writer that committed first).
        return Posted(_existing(key, fp).id, created=False)
    balances = _post_entries(txn_id, kind, postings, now)
    after = {"key": key, "kind": kind, "purchase_id": purchase_id}
    after["postings"] = {p.account: p.amount for p in postings}
    audit.record(
        actor, "ledger.posted", "ledger_transaction", txn_id, after=after, note=description or None
    )
    return Posted(txn_id, created=True, balances=balances)


def _post_entries(
    txn_id: int, kind: str, postings: Sequence[Posting], now: datetime
) -> dict[str, int]:
    """Move each posting's account balance and write its entry; return the balances after."""
    balances: dict[str, int] = {}
    entries = []
    # Lock accounts in one global order so concurrent transactions cannot deadlock: users'
    # accounts first, then the system accounts that every purchase touches, by code. The busy
    # system row is locked last, so its lock is held for as little of the transaction as
    # possible (every other grant waits for it).
    for posting in sorted(postings, key=lambda p: (p.account.startswith("system:"), p.account)):
        moved = _move(posting, kind)
        if moved is None and not _needs_funds(posting, kind):
            ensure_account(posting.account, account_owner(posting.account))
            moved = _move(posting, kind)
        if moved is None:
            raise InsufficientCredits("not enough credits", needed=-posting.amount)
        account_id, balance_after = moved
        balances[posting.account] = balance_after
        entries.append(
            {
                "transaction_id": txn_id,
                "account_id": account_id,
                "amount": posting.amount,
                "balance_after": balance_after,
                "created_at": now,
            }
        )
    run(_INSERT_ENTRIES, entries)
    return balances


def adjust(
    user: User, amount: int, reason: str, *, actor: str, key: str | None = None
) -> LedgerTransaction:
    """Grant (or, with a negative amount, deduct) credits by hand, audited."""
    reason = (reason or "").strip()
    check_credits(amount, signed=True)
    if not reason:
        raise ValidationFailed("a reason is required")
    with write_transaction():
        before = balance(user.id)
        posted = post(
            key or f"adjustment:{user.id}:{uuid.uuid4().hex}",
            "adjustment",
            [Posting(user_account(user.id), amount), Posting(ADJUSTMENTS_ACCOUNT, -amount)],
            description=reason,
            actor=actor,
        )
        if posted.created:
            audit.record(
                actor,
                "credits.adjusted",
                "user",
                user.id,
                before={"balance": before},
                after={
                    "balance": balance(user.id),
                    "amount": amount,
                    "transaction": posted.transaction_id,
                },
                note=reason,
            )
    return posted.transaction
