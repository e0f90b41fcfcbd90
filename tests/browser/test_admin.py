"""An admin in a real browser: filters in the URL, totals, CSV, a partial refund, a grant."""

from __future__ import annotations

import csv
import re

from playwright.sync_api import Page, expect

from app import ledger
from app.domain import users
from tests.helpers.browser_driver import WAIT_MS, Live
from tests.helpers.builders import make_user

ADMIN = "boss@example.com"


def paid_purchase(live: Live, email: str, code: str) -> str:
    """Buy and pay a pack for a new buyer through the sandbox; return the purchase id."""
    with live.app.app_context():
        token = users.issue_token(make_user(email))
    client = live.app.test_client()
    body = client.post(
        "/api/v1/billing/credits/purchase",
        json={"package_code": code},
        headers={"Authorization": f"Bearer {token}"},
    ).get_json()
    live.sandbox.pay(body["session_id"])
    live.sandbox.flush()
    return body["purchase_id"]


def open_purchase(live: Live, email: str, code: str) -> str:
    with live.app.app_context():
        token = users.issue_token(make_user(email))
    body = (
        live.app.test_client()
        .post(
            "/api/v1/billing/credits/purchase",
            json={"package_code": code},
            headers={"Authorization": f"Bearer {token}"},
        )
        .get_json()
    )
    return body["purchase_id"]


def admin_live(serve) -> Live:
    live: Live = serve(SANDBOX_START_WORKER=False)
    with live.app.app_context():
        make_user(ADMIN, admin=True)
    return live


def test_filters_live_in_the_url_totals_match_and_the_csv_has_the_filtered_rows(
    serve, page: Page, screenshot, tmp_path
) -> None:
    live = admin_live(serve)
    ann_pro = paid_purchase(live, "ann@example.com", "pro")
    ann_basic = paid_purchase(live, "ann2@example.com", "basic")
    bob = paid_purchase(live, "bob@example.com", "starter")
    pending = open_purchase(live, "carol@example.com", "premium")
    live.login(page, ADMIN)
    page.goto(f"{live.url}/admin/credits/purchases")
    rows = page.locator("#admin-purchase-rows tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator('[data-total="gross-usd"]')).to_have_text("$140.00")

    page.get_by_label("Status").select_option("completed")
    expect(page).to_have_url(re.compile(r"status=completed"), timeout=WAIT_MS)
    expect(rows).to_have_count(3)
    expect(page.locator(f'tr[data-purchase="{pending}"]')).to_have_count(0)
    page.get_by_label("Buyer email").fill("ann")
    expect(page).to_have_url(
        re.compile(r"status=completed.*email=ann|email=ann.*status=completed"), timeout=WAIT_MS
    )
    expect(rows).to_have_count(2)
    shown = {rows.nth(i).get_attribute("data-purchase") for i in range(2)}
    assert shown == {ann_pro, ann_basic} and bob not in shown
    # The totals are those of exactly the rows shown: $85 + $45, 1,000 + 500 credits.
    expect(page.locator('[data-total="gross-usd"]')).to_have_text("$130.00")
    expect(page.locator('[data-total="net-usd"]')).to_have_text("$130.00")
    expect(page.locator('[data-total="credits"]')).to_have_text("1,500")
    expect(page.locator('[data-count="completed"]')).to_have_text("2")
    screenshot(page, "admin-purchases")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    with path.open(newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert {row["purchase_id"] for row in exported} == shown
    assert {row["status"] for row in exported} == {"completed"}

    page.reload()  # a bookmarked view comes back the same
    expect(rows).to_have_count(2)
    expect(page.get_by_label("Status")).to_have_value("completed")


def test_a_partial_refund_shows_in_the_timeline_and_lowers_the_balance(
    serve, page: Page, screenshot
) -> None:
    live = admin_live(serve)
    purchase_id = paid_purchase(live, "ann@example.com", "pro")
    live.login(page, ADMIN)
    page.goto(f"{live.url}/admin/credits/purchases/{purchase_id}")
    expect(page.locator("#buyer-balance")).to_have_text("1,000 credits")
    page.get_by_label(re.compile("Amount to refund")).fill("21.25")
    page.get_by_role("button", name="Review refund").click()
    expect(page.get_by_text("Refund $21.25")).to_be_visible()
    page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_text("Refund of $21.25 sent to Stripe")).to_be_visible(timeout=WAIT_MS)
    live.sandbox.flush()
    page.reload()
    # ceil(1,000 credits x 2,125 / 8,500 cents) = 250 credits taken back.
    expect(page.locator("#buyer-balance")).to_have_text("750 credits")
    timeline = page.locator("#purchase-timeline")
    expect(timeline).to_contain_text("refund.requested")
    expect(timeline).to_contain_text("charge.refunded")
    expect(timeline).to_contain_text("take back -250 credits")
    expect(page.locator("#refunded-amount")).to_have_text("$21.25")
    screenshot(page, "admin-purchase")
    with live.app.app_context():
        assert ledger.verify() == []


def test_a_grant_shows_in_the_balance_and_the_audit_trail(serve, page: Page) -> None:
    live = admin_live(serve)
    live.login(page, ADMIN)
    page.goto(f"{live.url}/admin/users")
    page.get_by_label("Find by email").fill("buyer")
    page.get_by_role("link", name="buyer@example.com").click()
    expect(page.locator("#user-balance")).to_have_text("0 credits")
    page.get_by_label("Credits (negative to deduct)").fill("250")
    page.get_by_label("Reason").fill("Goodwill for the outage")
    page.get_by_role("button", name="Apply adjustment").click()
    expect(page.locator("#user-balance")).to_have_text("250 credits")
    trail = page.locator("#audit-trail")
    expect(trail).to_contain_text("credits.adjusted")
    expect(trail).to_contain_text("Goodwill for the outage")
    expect(trail).to_contain_text("+250")
