"""`fulfil`: distinct signed events for distinct pending purchases, posted to the webhook;
counted only when the answer says "credited"."""

from __future__ import annotations

from .checks import check_ledger, check_server_log, require_clean, require_credited
from .data import pending_purchases
from .events import event_bodies, sign_all
from .harness import Run, log
from .load import Result
from .postgres_stage import PostgresStage, reference_ratio
from .rounds import alternate, chunks, events_needed, paired, post_round, wait_quiet


def prepare(stage: PostgresStage) -> tuple[int, list[list]]:
    """Make the pending purchases (and those poll_pending polls); return how many events there
    are and the signed events of each round (the reference's are signed beside them)."""
    run, url, reference = stage.run, stage.url, stage.reference
    count = events_needed(run)
    stage.purchases = pending_purchases(url, count, seed=11, checked=True)
    stage.pending_polled = pending_purchases(url, run.mode.poll_users, seed=12, checked=True)
    check_ledger(run, "load_pending", url)
    stage.bodies = event_bodies(stage.template, stage.purchases)
    run.results["info"]["event_bytes"] = len(stage.bodies[0])
    log(f"fulfil: {count:,} signed events for {count:,} pending purchases")
    parts = chunks(sign_all(stage.bodies, run.webhook_secret), run.mode.rounds)
    if reference:
        reference.parts = chunks(sign_all(reference.bodies, run.webhook_secret), run.mode.rounds)
    return count, parts


def round_loads(stage: PostgresStage, parts: list[list]):
    """Round i: the app's share of events (then a moment for its receipts), and the reference's."""
    run, reference = stage.run, stage.reference

    def fulfil_round(i: int) -> dict[str, Result]:
        def app_load() -> Result:
            result = post_round(run, stage.server, parts[i], "events")
            wait_quiet()  # the receipts' background send, before the next load
            return result

        loads = {"fulfil": app_load}
        if reference:
            loads["reference_fulfil"] = lambda: post_round(
                run, reference.server, reference.parts[i], "ref"
            )
        return paired(i, loads)

    return fulfil_round


def run_phase(stage: PostgresStage) -> None:
    """Measure fulfil (and reference_fulfil), then check both ledgers and the server log."""
    run: Run = stage.run
    count, parts = prepare(stage)
    results, ratios = alternate(run, "fulfil", round_loads(stage, parts))
    run.results["phases"]["fulfil"]["events_prepared"] = count
    for name, result in results.items():
        require_clean(name, result)
        require_credited(name, result)
    run.results["ratios"]["fulfil"] = ratios["fulfil"]
    check_ledger(run, "fulfil", stage.url)
    check_server_log(run, stage.server, "fulfil")
    if stage.reference:
        check_ledger(run, "reference_fulfil", stage.reference.url)
        reference_ratio(run, "fulfil", ratios)
