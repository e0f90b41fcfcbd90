"""What `fulfil`, `replay` and `poll` share on PostgreSQL: one database and app server, and in
the full run the reference handlers (`reference_app.py`) on a copy of their own."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from .checks import check_ledger, check_server_log
from .data import pending_purchases
from .events import event_bodies, session_template
from .harness import Run, log
from .rounds import events_needed
from .servers import Server


@dataclass
class Reference:
    """The reference handlers' server and what their phases send."""

    server: Server
    url: str
    app: Any  # the app on the reference's database, for log-in cookies
    bodies: list[str]
    public_ids: list[str]
    parts: list[list] = field(default_factory=list)  # the bodies signed, a share per round


@dataclass
class PostgresStage:
    """The app's server and database of the PostgreSQL phases, and what fulfil leaves."""

    run: Run
    url: str
    server: Server
    app: Any
    template: dict
    reference: Reference | None
    purchases: list[dict] = field(default_factory=list)  # those fulfil delivers events for
    bodies: list[str] = field(default_factory=list)  # fulfil's event bodies
    pending_polled: list[dict] = field(default_factory=list)  # left pending, for poll_pending


def open_stage(run: Run) -> PostgresStage:
    """A copy of the template database, the app served on it, and the reference (full run)."""
    url = run.new_database("main", template="tpl")
    server = run.start("app_postgres", "wsgi:app", run.app_env(url))
    template, kind = session_template()
    run.results["info"]["event_session"] = kind
    # The full run measures the minimal Core handlers in the same rounds, each right after the
    # app's load, on their own copy of the database.
    reference = start_reference(run, template) if run.mode.extras else None
    return PostgresStage(run, url, server, run.app_for(url), template, reference)


def start_reference(run: Run, template: dict) -> Reference:
    """Start the reference handlers on their own copy of the database, with their own distinct
    events for the same kind of pending purchases (signed just before the phase)."""
    url = run.new_database("reference", template="tpl")
    server = run.start("reference", "benchmarks.reference_app:from_environment()", run.app_env(url))
    purchases = pending_purchases(url, events_needed(run), seed=13, checked=True)
    bodies = event_bodies(template, purchases)
    public_ids = [p["public_id"] for p in purchases]
    return Reference(server, url, run.app_for(url), bodies, public_ids)


def reference_ratio(run: Run, name: str, ratios: dict[str, float]) -> None:
    """Record a reference handler's ratio and how much of its rate the app reached."""
    phases = run.results["phases"]
    pairs = zip(
        phases[name]["round_ratios"], phases[f"reference_{name}"]["round_ratios"], strict=True
    )
    # Per round the two loads share their bare windows, which then cancel out.
    share = statistics.median(app / reference for app, reference in pairs)
    run.results["info"][f"reference_{name}_ratio"] = round(ratios[f"reference_{name}"], 4)
    run.results["info"][f"{name}_of_reference"] = round(share, 3)
    log(f"{name} reached {share:.0%} of the reference's rate (median of the rounds)")


def close_stage(stage: PostgresStage) -> None:
    """Check the reference's ledger and log, and stop both servers."""
    run, reference = stage.run, stage.reference
    if reference:
        check_ledger(run, "reference", reference.url)
        check_server_log(run, reference.server, "reference")
        run.stop(reference.server)
    run.stop(stage.server)
