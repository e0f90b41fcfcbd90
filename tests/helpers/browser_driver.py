"""Driving the live app in Chromium: the running app, console watching, shared addresses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Flask
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Purchase
from tests.helpers.builders import PASSWORD
from tests.helpers.sandbox_driver import SandboxDriver

BUYER = "buyer@example.com"
# One generous upper bound for every wait: htmx polls, webhook deliveries, navigations, actions.
# A passing test never spends it; a test never sleeps.
WAIT_MS = 60_000
CHECKOUT_URL = re.compile(r"/stripe-sandbox/checkout/(cs_test_\w+)$")

# Chromium reports CSP violations to the console; the init script below makes sure each one
# is also logged as an error with its directive, even where Chromium's own message is terse.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@dataclass
class ConsoleWatch:
    """Collects console errors, page errors and CSP violations from every watched context."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> BrowserContext:
        context.add_init_script(script=CSP_WATCH)
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.errors.append(f"page error: {error.error}"))
        return context

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.page.url if message.page else "?"
            self.errors.append(f"console error on {where}: {message.text}")

    def allow(self, pattern: str) -> None:
        """Expect errors matching this pattern (a test that provokes a 429, say)."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class Live:
    """A running app: its base URL, the Flask app and a driver for its Stripe sandbox."""

    url: str
    app: Flask
    sandbox: SandboxDriver

    def login(self, page: Page, email: str = BUYER) -> None:
        """Log in through the form, as a person would; lands on the buy page."""
        page.goto(f"{self.url}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{self.url}/credits/purchase")

    def purchases(self) -> list[Purchase]:
        """Return every purchase, oldest first, read fresh from the database."""
        with self.app.app_context():
            rows = list(db.session.scalars(select(Purchase).order_by(Purchase.id)))
            db.session.expunge_all()
            return rows
