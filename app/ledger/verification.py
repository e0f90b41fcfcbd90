"""Proof that the ledger holds together: every invariant checked against one snapshot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import consistent_read
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction


def verify() -> list[str]:
    """Check every ledger invariant and return one line per violation."""
    with consistent_read() as session:
        return [problem for check in CHECKS for problem in check(session)]


def cached_balances(session: Session) -> Iterator[str]:
    """Each account's cached balance equals the sum of its entries."""
    sums = (
        select(
            LedgerAccount.code,
            LedgerAccount.balance,
            func.coalesce(func.sum(LedgerEntry.amount), 0),
        )
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id, LedgerAccount.code, LedgerAccount.balance)
    )
    for code, cached, total in session.execute(sums):
        if int(cached) != int(total):
            yield f"account {code}: cached balance {cached} != sum of entries {total}"


def entries_sum_to_zero(session: Session) -> Iterator[str]:
    """All entries over all accounts sum to zero."""
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    if int(total) != 0:
        yield f"entries over all accounts sum to {total}, not 0"


def transactions_balance(session: Session) -> Iterator[str]:
    """Every ledger transaction's entries sum to zero, and it has entries."""
    unbalanced = (
        select(LedgerTransaction.idempotency_key, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.idempotency_key)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    for key, amount in session.execute(unbalanced):
        yield f"transaction {key}: entries sum to {amount}, not 0"
    empty = select(LedgerTransaction.idempotency_key).where(
        ~select(LedgerEntry.id).where(LedgerEntry.transaction_id == LedgerTransaction.id).exists()
    )
    for (key,) in session.execute(empty):
        yield f"transaction {key}: has no entries"


def running_balances(session: Session) -> Iterator[str]:
    """Each entry's balance_after is the running total of its account's entries."""
    running = select(
        LedgerEntry.id,
        LedgerEntry.balance_after,
        func.sum(LedgerEntry.amount)
        .over(partition_by=LedgerEntry.account_id, order_by=LedgerEntry.id)
        .label("running"),
    ).subquery()
    drift = select(running.c.id, running.c.balance_after, running.c.running).where(
        running.c.balance_after != running.c.running
    )
    for entry_id, after, expected in session.execute(drift):
        yield f"entry {entry_id}: balance_after {after} != running total {expected}"


def one_grant_per_purchase(session: Session) -> Iterator[str]:
    """No purchase is granted more than once."""
    grants = (
        select(LedgerTransaction.purchase_id, func.count())
        .where(LedgerTransaction.kind == "grant", LedgerTransaction.purchase_id.is_not(None))
        .group_by(LedgerTransaction.purchase_id)
        .having(func.count() > 1)
    )
    for purchase_id, count in session.execute(grants):
        yield f"purchase {purchase_id}: granted {count} times"


def take_backs_within_grants(session: Session) -> Iterator[str]:
    """Take-backs never exceed what a purchase granted, nor restorations its take-backs."""
    user_amounts = (
        select(
            LedgerTransaction.purchase_id,
            LedgerTransaction.kind,
            func.sum(LedgerEntry.amount).label("amount"),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.purchase_id.is_not(None), LedgerAccount.user_id.is_not(None))
        .group_by(LedgerTransaction.purchase_id, LedgerTransaction.kind)
    )
    per_purchase: dict[int, Counter[str]] = {}
    for purchase_id, kind, amount in session.execute(user_amounts):
        per_purchase.setdefault(purchase_id, Counter())[kind] += int(amount)
    for purchase_id, kinds in per_purchase.items():
        granted = kinds["grant"]
        taken = -(kinds["take_back"] + kinds["restore"])
        if taken > granted:
            yield f"purchase {purchase_id}: {taken} credits taken back, more than {granted} granted"
        if taken < 0:
            yield f"purchase {purchase_id}: {-taken} credits restored beyond take-backs"


CHECKS: tuple[Callable[[Session], Iterator[str]], ...] = (
    cached_balances,
    entries_sum_to_zero,
    transactions_balance,
    running_balances,
    one_grant_per_purchase,
    take_backs_within_grants,
)
