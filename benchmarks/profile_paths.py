"""The paths `python -m benchmarks.profile` measures, one request at a time through the test
clients of the app and of the reference handlers, on one fresh PostgreSQL database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.domain.mail import wait_for_background
from app.extensions import db

from .config import FULL, USER_AGENT
from .data import pending_purchases
from .events import REDELIVERY_PATH, WEBHOOK_PATH, event_bodies, session_template, sign_all
from .harness import Run
from .logins import session_cookie
from .profile_meter import Meter, Send
from .reference_app import create_reference_app, reference_engine

HEADERS = {"User-Agent": USER_AGENT}


def webhook_requests(client, signed: list, path: str | None = None) -> list[Send]:
    """One POST per signed event."""

    def send(signature: str, body: str) -> Send:
        headers = {**HEADERS, "Stripe-Signature": signature, "Content-Type": "application/json"}
        return lambda: client.post(path or WEBHOOK_PATH, data=body, headers=headers)

    return [send(signature, body) for signature, body in signed]


def poll_requests(client, cookies: dict, purchases: list[dict], n: int, query: str = ""):
    """n polls of the status partial, round-robin over the purchases' buyers."""

    def send(p: dict) -> Send:
        def poll():
            client.set_cookie("session", cookies[p["user_id"]], domain="localhost")
            return client.get(
                f"/credits/purchase/{p['public_id']}/status{query}",
                headers={**HEADERS, "HX-Request": "true"},
            )

        return poll

    return [send(purchases[i % len(purchases)]) for i in range(n)]


def profile_app(run, meter: Meter, url: str, n: int) -> dict[str, Any]:
    """fulfil and replay through the app; return what the polls and the reference need."""
    app = run.app_for(url)
    purchases = pending_purchases(url, n, seed=31, checked=True)
    pending = pending_purchases(url, 20, seed=32, checked=True)
    template, _ = session_template()
    bodies = event_bodies(template, purchases)
    client = app.test_client()
    meter.measure("fulfil", webhook_requests(client, sign_all(bodies, run.webhook_secret)))
    meter.measure("replay", webhook_requests(client, sign_all(bodies, run.webhook_secret)))
    made = {"app": app, "client": client, "template": template}
    return {**made, "purchases": purchases, "pending": pending}


def profile_reference(run, meter: Meter, url: str, n: int, template: dict):
    """fulfil and replay through the reference handlers; return its test client and engine."""
    reference = create_reference_app(url, run.webhook_secret, run.secret_key)
    meter.watch(reference_engine(reference))
    client = reference.test_client()
    bodies = event_bodies(template, pending_purchases(url, n, seed=33, checked=True))
    meter.measure(
        "reference_fulfil", webhook_requests(client, sign_all(bodies, run.webhook_secret))
    )
    again = sign_all(bodies, run.webhook_secret)
    meter.measure("reference_replay", webhook_requests(client, again, REDELIVERY_PATH))
    return client, reference_engine(reference)


def profile_polls(meter: Meter, made: dict[str, Any], reference_client, n: int) -> None:
    """Polls of completed purchases through the app and the reference, and of pending ones."""
    completed, pending = made["purchases"][:20], made["pending"]
    cookies = {p["user_id"]: session_cookie(made["app"], p["user_id"]) for p in completed + pending}
    meter.measure("poll", poll_requests(made["client"], cookies, completed, n))
    meter.measure("reference_poll", poll_requests(reference_client, cookies, completed, n))
    pending_polls = poll_requests(made["client"], cookies, pending, n, "?seen=pending")
    meter.measure("poll_pending", pending_polls)


def print_table(report: dict[str, dict[str, Any]]) -> None:
    rows = [("path", "ms median", "cpu ms", "sql ms", "statements", "commits", "by kind")]
    for name, r in report.items():
        by = ", ".join(f"{k} {v}" for k, v in r["by_kind"].items() if k != "COMMIT")
        commits = r["by_kind"].get("COMMIT", 0)
        figures = (r["ms_median"], r["cpu_ms_mean"], r["sql_ms_mean"], r["statements_per_request"])
        rows.append((name, *(str(f) for f in figures), str(commits), by))
    widths = [max(len(str(row[i])) for row in rows) for i in range(7)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def profile_all(app_root: Path, out: Path, requests: int, meter: Meter) -> None:
    """Every path on a fresh database; write summary.json (and parts.json) and print a table."""
    run = Run(FULL, app_root, None)
    try:
        url = run.new_database("profile")
        run.prepare_schema(url)
        with run.app_for(url).app_context():
            meter.watch(db.engine)
        made = profile_app(run, meter, url, requests)
        reference_client, engine = profile_reference(run, meter, url, requests, made["template"])
        profile_polls(meter, made, reference_client, requests)
        engine.dispose()
        wait_for_background()
    finally:
        run.cleanup()
    (out / "summary.json").write_text(json.dumps(meter.report, indent=2) + "\n")
    if meter.parts:
        (out / "parts.json").write_text(json.dumps(meter.parts, indent=2) + "\n")
    print_table(meter.report)
    print(f"profiles in {out}")
