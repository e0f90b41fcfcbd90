"""The frame in a real browser: phone layout, keyboard use, the CSP and the error pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error, Page, expect

from tests.helpers.browser_driver import CHECKOUT_URL, ConsoleWatch, Live

PHONE = {"width": 375, "height": 740}


def overflows_horizontally(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")


@pytest.mark.parametrize("path", ["/credits/purchase", "/credits/history", "/credits/transactions"])
def test_pages_fit_a_phone_screen(live: Live, page: Page, path: str) -> None:
    page.set_viewport_size(PHONE)
    live.login(page)
    page.goto(f"{live.url}{path}")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator("#header-balance")).to_be_visible()
    assert not overflows_horizontally(page)


def test_the_buy_page_works_from_the_keyboard(live: Live, page: Page) -> None:
    live.login(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    buy = page.get_by_role("button", name="Buy now: Starter Pack")
    for _ in range(10):  # from the main content, the first Buy now is a few Tabs away
        page.keyboard.press("Tab")
        if buy.evaluate("el => el === document.activeElement"):
            break
    expect(buy).to_be_focused()
    outline = buy.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "focused buttons must show a focus ring"
    page.keyboard.press("Enter")
    expect(page).to_have_url(CHECKOUT_URL)
    assert [p.package_code for p in live.purchases()] == ["starter"]


def test_the_csp_refuses_inline_script_and_the_watch_sees_it(
    live: Live, page: Page, console: ConsoleWatch
) -> None:
    page.goto(f"{live.url}/login")
    with pytest.raises(Error):
        page.add_script_tag(content="window.__inline = 1")
    assert page.evaluate("window.__inline") is None
    violations = [e for e in console.errors if "script-src" in e]
    assert violations, console.errors  # proves a violation would fail every other test
    console.allow("script-src")


def test_a_missing_page_is_a_styled_404(live: Live, page: Page, console: ConsoleWatch) -> None:
    console.allow(r"status of 404")
    live.login(page)
    response = page.goto(f"{live.url}/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to Buy credits")).to_be_visible()
    expect(page.locator("#header-balance")).to_have_text("0 credits")
