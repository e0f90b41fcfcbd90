"""A buyer in a real browser: packs, Checkout on the sandbox, live status, history, no-JS."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.helpers.browser_driver import CHECKOUT_URL, WAIT_MS, ConsoleWatch, Live

PACKS = [
    # name, credits, price, per 100 credits, discount chip, badge
    ("Starter Pack", "100 credits", "$10.00", "$10.00 per 100 credits", None, None),
    ("Basic Pack", "500 credits", "$45.00", "$9.00 per 100 credits", "Save 10%", None),
    ("Pro Pack", "1,000 credits", "$85.00", "$8.50 per 100 credits", "Save 15%", "Popular"),
    ("Premium Pack", "2,500 credits", "$200.00", "$8.00 per 100 credits", "Save 20%", None),
    (
        "Enterprise Pack",
        "10,000 credits",
        "$750.00",
        "$7.50 per 100 credits",
        "Save 25%",
        "Best value",
    ),
]
SUCCESS_URL = re.compile(r"/credits/purchase/success\?session_id=cs_test_\w+$")


def buy(page: Page, pack: str) -> str:
    """Press Buy now on a pack and return the Checkout Session id the browser lands on."""
    page.get_by_role("button", name=f"Buy now: {pack}").click()
    expect(page).to_have_url(CHECKOUT_URL)
    return CHECKOUT_URL.search(page.url).group(1)


def pay_by_card(page: Page, card: str) -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name="Pay", exact=True).click()


def main_frame_navigations(page: Page) -> list[str]:
    """Record every document the tab loads from now on (a reload would add one)."""
    loaded: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: loaded.append(frame.url) if frame == page.main_frame else None,
    )
    return loaded


def test_buy_pro_by_card_completes_in_place_and_shows_in_history(
    serve, page: Page, screenshot
) -> None:
    # No delivery worker: the webhook goes out when the test flushes, after the page has
    # rendered the purchase as pending, so the change to completed must happen in place.
    live: Live = serve(SANDBOX_START_WORKER=False)
    live.login(page)
    expect(page.locator("#header-balance")).to_have_text("0 credits")

    cards = page.locator(".pack")
    expect(cards).to_have_count(len(PACKS))
    for card, (name, credits, price, per_100, chip, badge) in zip(cards.all(), PACKS, strict=True):
        expect(card.get_by_role("heading")).to_have_text(name)
        expect(card.locator(".pack-credits")).to_have_text(credits)
        expect(card.locator(".price")).to_have_text(price)
        expect(card.locator(".per")).to_have_text(per_100)
        if chip:
            expect(card.locator(".chip.save")).to_have_text(chip)
        else:
            expect(card.locator(".chip.save")).to_have_count(0)
        if badge:
            expect(card.locator(".badge")).to_have_text(badge)
        else:
            expect(card.locator(".badge")).to_have_count(0)
        expect(card.get_by_role("button", name=f"Buy now: {name}")).to_be_enabled()
    screenshot(page, "buy")

    buy(page, "Pro Pack")
    expect(page.get_by_text("Sandbox: payments are simulated")).to_be_visible()
    loads = main_frame_navigations(page)
    with page.expect_response(lambda r: "/credits/purchase/success" in r.url) as first:
        pay_by_card(page, "4242 4242 4242 4242")
    expect(page).to_have_url(SUCCESS_URL)
    assert "Waiting for payment confirmation" in first.value.text()
    page.evaluate("window.__marker = 1")

    assert live.sandbox.flush() >= 1
    status = page.locator("#purchase-status h2")
    expect(status).to_have_text("Completed: 1,000 credits added", timeout=WAIT_MS)
    expect(page.locator("#header-balance")).to_have_text("1,000 credits")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert [url for url in loads if "/credits/purchase/success" in url] == [page.url]
    assert loads[-1] == page.url, f"the tab loaded another document: {loads}"
    expect(page.locator(".status-live")).to_have_attribute("aria-live", "polite")
    screenshot(page, "purchase-completed")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    row = page.locator("#purchase-history tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td")).to_have_text(
        [re.compile(r"\S"), "Pro Pack", "1,000", "$85.00", "Completed"]
    )
    date = row.locator("time")
    expect(date).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    expect(date).not_to_contain_text("UTC")  # static/js/app.js shows the viewer's local time
    screenshot(page, "history")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Transactions").click()
    movement = page.locator("#transactions tbody tr")
    expect(movement).to_have_count(1)
    expect(movement.locator("td").nth(1)).to_contain_text("Purchase")
    expect(movement.locator("td").nth(2)).to_have_text("+1,000")
    expect(movement.locator("td").nth(3)).to_have_text("1,000")
    [purchase] = live.purchases()
    assert (purchase.status, purchase.package_code) == ("completed", "pro")


def test_declined_card_then_cancel_and_resume_another_purchase(
    live: Live, page: Page, console: ConsoleWatch
) -> None:
    # The sandbox answers a decline with 402, as Stripe does; the browser logs that status.
    console.allow(r"/stripe-sandbox/checkout/.*status of 402")
    live.login(page)
    buy(page, "Pro Pack")
    pay_by_card(page, "4000 0000 0000 0002")
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")

    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/credits/purchase/cancel\?purchase_id=pur_"))
    page.get_by_role("button", name="Cancel purchase").click()
    expect(page.locator("#purchase-status h2")).to_have_text("Purchase canceled")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.locator("#header-balance")).to_have_text("0 credits")
    [canceled] = live.purchases()
    assert canceled.status == "canceled"

    page.get_by_role("link", name="Choose another pack").click()
    session_id = buy(page, "Basic Pack")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="Purchase not paid")).to_be_visible()
    page.get_by_role("link", name="Resume checkout").click()
    expect(page).to_have_url(CHECKOUT_URL)
    assert CHECKOUT_URL.search(page.url).group(1) == session_id
    expect(page.get_by_label("Card number")).to_be_visible()
    statuses = [(p.package_code, p.status) for p in live.purchases()]
    assert statuses == [("pro", "canceled"), ("basic", "pending")]


def test_bank_transfer_is_processing_then_completes_in_place(serve, page: Page) -> None:
    # The bank never settles by itself during the test; the test settles it.
    live: Live = serve(SANDBOX_BANK_TRANSFER_SETTLE_SECONDS=86_400)
    live.login(page)
    buy(page, "Pro Pack")
    page.get_by_role("button", name="Pay by bank transfer").click()
    expect(page).to_have_url(SUCCESS_URL)
    status = page.locator("#purchase-status h2")
    expect(status).to_have_text("Payment processing", timeout=WAIT_MS)
    page.evaluate("window.__marker = 1")
    loads = main_frame_navigations(page)

    [purchase] = live.purchases()
    code, intent = live.sandbox.helper(f"bank_transfers/{purchase.stripe_payment_intent_id}/settle")
    assert code == 200 and intent["status"] == "succeeded"
    expect(status).to_have_text("Completed: 1,000 credits added", timeout=WAIT_MS)
    expect(page.locator("#header-balance")).to_have_text("1,000 credits")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert loads == []


def test_pending_rows_in_history_update_live(serve, page: Page) -> None:
    live: Live = serve(SANDBOX_START_WORKER=False)
    live.login(page)
    session_id = buy(page, "Starter Pack")
    page.goto(f"{live.url}/credits/history")
    chip = page.locator("#purchase-history tbody tr .status-chip")
    expect(chip).to_have_text("Awaiting payment")
    page.evaluate("window.__marker = 1")

    code, _ = live.sandbox.pay(session_id)
    assert code == 200
    live.sandbox.flush()
    expect(chip).to_have_text("Completed", timeout=WAIT_MS)
    expect(page.locator("#header-balance")).to_have_text("100 credits")
    assert page.evaluate("window.__marker") == 1


def test_a_double_click_on_buy_now_starts_one_purchase(live: Live, page: Page) -> None:
    live.login(page)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.url)
            if r.method == "POST" and r.url.endswith("/credits/purchase")
            else None
        ),
    )
    page.get_by_role("button", name="Buy now: Premium Pack").dblclick()
    expect(page).to_have_url(CHECKOUT_URL)
    assert len(posts) == 1, posts
    assert [p.package_code for p in live.purchases()] == ["premium"]


def test_a_logged_out_visitor_logs_in_and_comes_back_to_buy(live: Live, page: Page) -> None:
    page.goto(f"{live.url}/credits/purchase")
    expect(page).to_have_url(f"{live.url}/login?next=/credits/purchase")
    expect(page.get_by_text("Log in to continue.")).to_be_visible()
    page.get_by_label("Email").fill("buyer@example.com")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(f"{live.url}/credits/purchase")
    expect(page.get_by_role("heading", name="Buy credits")).to_be_visible()


def test_without_javascript_a_purchase_still_completes(
    serve, new_context, console: ConsoleWatch
) -> None:
    # No delivery worker: the page renders pending, and "Refresh status" asks Stripe.
    live: Live = serve(SANDBOX_START_WORKER=False)
    page = console.watch(new_context(java_script_enabled=False)).new_page()
    live.login(page)
    buy(page, "Pro Pack")
    pay_by_card(page, "4242 4242 4242 4242")
    expect(page).to_have_url(SUCCESS_URL)
    expect(page.locator("#purchase-status h2")).to_have_text("Waiting for payment confirmation…")
    page.get_by_role("link", name="Refresh status").click()
    expect(page.locator("#purchase-status h2")).to_have_text("Completed: 1,000 credits added")
    expect(page.locator("#header-balance")).to_have_text("1,000 credits")
    expect(page.get_by_role("link", name="Refresh status")).to_have_count(0)


def test_a_rate_limited_purchase_is_explained_inline(
    serve, page: Page, console: ConsoleWatch
) -> None:
    live: Live = serve(PURCHASE_RATE_LIMIT="1 per hour")
    # The browser logs the refused request; that is the point of this test.
    console.allow(r"status of 429")
    console.allow(r"Response Status Error Code 429 from /credits/purchase")
    live.login(page)
    buy(page, "Starter Pack")
    page.goto(f"{live.url}/credits/purchase")
    page.evaluate("window.__marker = 1")
    page.get_by_role("button", name="Buy now: Basic Pack").click()
    error = page.locator("#error-region")
    expect(error).to_contain_text("Slow down a little")
    expect(error).to_contain_text("Wait a minute, then try again.")
    expect(page).to_have_url(f"{live.url}/credits/purchase")
    expect(page.get_by_role("button", name="Buy now: Basic Pack")).to_be_enabled()
    expect(page.locator(".pack")).to_have_count(len(PACKS))  # nothing was swapped away
    assert page.evaluate("window.__marker") == 1
    assert [p.package_code for p in live.purchases()] == ["starter"]
