"""Admin reports: totals, the daily chart, and the streamed CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain import users
from app.domain.formats import decimal_amount
from app.domain.purchases import PurchaseFilter
from app.domain.reports import csv_rows, daily_net, neutralise, totals
from app.extensions import db
from app.models import Purchase, PurchaseStatus
from tests.helpers.builders import make_purchase, make_user


def paid(user, code, *, refunded=0, status=PurchaseStatus.COMPLETED, when=None, currency=None):
    purchase = make_purchase(user, code, status=status)
    purchase.refunded_cents = refunded
    purchase.completed_at = when or datetime.now(UTC)
    if currency:
        purchase.currency = currency
    db.session.commit()
    return purchase


@pytest.fixture
def shop(ctx):
    ann, bob = make_user("ann@example.com"), make_user("bob@example.com")
    paid(ann, "pro")  # 8500
    paid(ann, "basic", refunded=1000, status=PurchaseStatus.PARTIALLY_REFUNDED)  # 4500
    paid(bob, "starter", refunded=1000, status=PurchaseStatus.REFUNDED)  # 1000
    paid(bob, "premium", currency="eur")  # 20000 eur
    make_purchase(bob, "enterprise", status=PurchaseStatus.FAILED)
    make_purchase(ann, "starter")  # pending
    return ann, bob


def test_totals_per_currency_and_status(shop):
    result = totals(PurchaseFilter())
    assert result.gross == {"usd": 14000, "eur": 20000}
    assert result.refunded == {"usd": 2000, "eur": 0}
    assert result.net == {"usd": 12000, "eur": 20000}
    assert result.credits_sold == 1000 + 500 + 100 + 2500
    assert result.by_status == {
        "completed": 2,
        "partially_refunded": 1,
        "refunded": 1,
        "failed": 1,
        "pending": 1,
    }
    assert result.count == 6


def test_totals_follow_the_filter(shop):
    only_bob = totals(PurchaseFilter(email="bob@"))
    assert only_bob.gross == {"usd": 1000, "eur": 20000} and only_bob.count == 3
    failed = totals(PurchaseFilter(status="failed"))
    assert failed.gross == {} and failed.by_status == {"failed": 1}


def test_daily_net_cuts_days_in_utc(ctx):
    user = make_user()
    today = date(2026, 11, 26)
    late = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)
    paid(user, "pro", when=late)
    paid(user, "basic", when=late + timedelta(seconds=2), refunded=500)
    paid(user, "starter", when=datetime(2026, 10, 1, tzinfo=UTC))  # outside the 30 days
    days = daily_net(PurchaseFilter(), days=30, today=today)
    assert len(days) == 30 and days[0].day == date(2026, 10, 28) and days[-1].day == today
    by_day = {d.day: d.net for d in days}
    assert by_day[date(2026, 11, 25)] == {"usd": 8500}
    assert by_day[today] == {"usd": 4000}
    assert sum(sum(d.net.values()) for d in days) == 12500


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("ok", "ok"),
        (5, "5"),
        (None, ""),
    ],
)
def test_formula_cells_are_neutralised(raw, safe):
    assert neutralise(raw) == safe


def test_decimal_amounts():
    assert decimal_amount(8500, "usd") == "85.00"
    assert decimal_amount(5, "usd") == "0.05"
    assert decimal_amount(500, "jpy") == "500"


def test_csv_has_a_header_and_exactly_the_filtered_rows(shop):
    text = "".join(csv_rows(PurchaseFilter(email="ann@")))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["purchase_id", "created_at", "completed_at", "status", "user_email"]
    assert len(rows) == 4 and {r[4] for r in rows[1:]} == {"ann@example.com"}
    basic = next(r for r in rows[1:] if r[5] == "basic")
    assert basic[9:] == ["4500", "45.00", "1000", "10.00"]
    assert basic[1].endswith("Z")


def test_a_formula_looking_email_is_neutralised_in_the_export(app, client):
    with app.app_context():
        evil = make_user("=cmd|'/c calc'!a1@example.com")
        paid(evil, "pro")
        admin = users.issue_token(make_user("boss@example.com", admin=True))
    response = client.get(
        "/admin/credits/purchases.csv", headers={"Authorization": f"Bearer {admin}"}
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[1][4].startswith("'=")


def test_csv_export_is_admin_only(app, client):
    with app.app_context():
        token = users.issue_token(make_user())
    assert (
        client.get(
            "/admin/credits/purchases.csv", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 403
    )
    assert client.get("/admin/credits/purchases.csv").status_code == 302


def test_a_large_export_streams_rows_before_it_ends(app, client):
    with app.app_context():
        user = make_user()
        for _ in range(450):
            db.session.add(
                Purchase(
                    user_id=user.id,
                    package_code="pro",
                    package_name="Pro Pack",
                    credits=1000,
                    amount_cents=8500,
                    currency="usd",
                    status="completed",
                )
            )
        db.session.commit()
        admin = users.issue_token(make_user("boss@example.com", admin=True))
    response = client.get(
        "/admin/credits/purchases.csv", headers={"Authorization": f"Bearer {admin}"}, buffered=False
    )
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    chunks = iter(response.response)
    first, second = next(chunks), next(chunks)
    assert first.startswith(b"purchase_id,")
    assert second.count(b"\n") == 100  # rows arrived while the export is still running
    rest = b"".join(chunks)
    response.close()
    assert (first + second + rest).count(b"\n") == 451
