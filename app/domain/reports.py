"""Admin reports over a filtered set of purchases: totals, a daily chart and a CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from app.db import consistent_read
from app.domain.formats import decimal_amount, iso
from app.domain.purchases import PurchaseFilter
from app.extensions import db
from app.models import PAID_STATUSES, Purchase, User, utcnow

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = (
    "purchase_id",
    "created_at",
    "completed_at",
    "status",
    "user_email",
    "package_code",
    "package_name",
    "credits",
    "currency",
    "amount_cents",
    "amount",
    "refunded_cents",
    "refunded",
)


@dataclass
class Totals:
    gross: dict[str, int] = field(default_factory=dict)  # currency -> cents of paid purchases
    refunded: dict[str, int] = field(default_factory=dict)
    credits_sold: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    count: int = 0

    @property
    def net(self) -> dict[str, int]:
        return {cur: cents - self.refunded.get(cur, 0) for cur, cents in self.gross.items()}


def totals(filters: PurchaseFilter) -> Totals:
    """Sum the filtered purchases: money per currency, credits sold, count per status."""
    result = Totals()
    by_status = filters.apply(select(Purchase.status, func.count(Purchase.id))).group_by(
        Purchase.status
    )
    for status, count in db.session.execute(by_status):
        result.by_status[status] = count
        result.count += count
    paid = filters.apply(
        select(
            Purchase.currency,
            func.sum(Purchase.amount_cents),
            func.sum(Purchase.refunded_cents),
            func.sum(Purchase.credits),
        ).where(Purchase.status.in_(PAID_STATUSES))
    ).group_by(Purchase.currency)
    for currency, gross, refunded, credits_sold in db.session.execute(paid):
        result.gross[currency] = int(gross or 0)
        result.refunded[currency] = int(refunded or 0)
        result.credits_sold += int(credits_sold or 0)
    return result


@dataclass
class DayNet:
    day: date
    net: dict[str, int]


def daily_net(filters: PurchaseFilter, days: int = 30, today: date | None = None) -> list[DayNet]:
    """Net revenue (paid minus refunded) of purchases completed on each of the last N UTC days."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, UTC)
    rows = db.session.execute(
        filters.apply(
            select(
                Purchase.completed_at,
                Purchase.currency,
                Purchase.amount_cents - Purchase.refunded_cents,
            ).where(Purchase.status.in_(PAID_STATUSES), Purchase.completed_at >= start)
        )
    )
    buckets = {first + timedelta(days=n): {} for n in range(days)}
    for completed_at, currency, net in rows:
        day = completed_at.astimezone(UTC).date()
        if day in buckets:
            buckets[day][currency] = buckets[day].get(currency, 0) + int(net)
    return [DayNet(day, net) for day, net in buckets.items()]


def neutralise(value: object) -> str:
    """Keep a cell from being read as a spreadsheet formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_rows(filters: PurchaseFilter, batch: int = 1000) -> Iterator[str]:
    """Yield the filtered purchases as CSV text, a header first, streaming from the database."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield flush()
    query = filters.apply(select(Purchase, User.email)).join(User, User.id == Purchase.user_id)
    query = query.order_by(Purchase.id.desc()).execution_options(yield_per=batch)
    # One snapshot for the whole export (and the transaction a server-side cursor needs).
    with consistent_read() as session:
        for n, (purchase, email) in enumerate(session.execute(query), start=1):
            writer.writerow([neutralise(v) for v in _csv_values(purchase, email)])
            if n % 100 == 0:
                yield flush()
    yield flush()


def _csv_values(purchase: Purchase, email: str) -> tuple:
    return (
        purchase.public_id,
        iso(purchase.created_at),
        iso(purchase.completed_at),
        purchase.status,
        email,
        purchase.package_code,
        purchase.package_name,
        purchase.credits,
        purchase.currency,
        purchase.amount_cents,
        decimal_amount(purchase.amount_cents, purchase.currency),
        purchase.refunded_cents,
        decimal_amount(purchase.refunded_cents, purchase.currency),
    )
