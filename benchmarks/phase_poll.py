"""`poll`: logged-in buyers polling their own completed purchase's status partial; and, in
the full run, `poll_pending`: polls of purchases still pending, answered 204 "nothing new"."""

from __future__ import annotations

from .checks import check_ledger, check_server_log, require_clean
from .load import Result
from .logins import poll_lines
from .postgres_stage import PostgresStage, reference_ratio
from .probes import expect_answer
from .queries import completed_owners
from .rounds import alternate, get_round, paired


def request_lines(stage: PostgresStage) -> tuple[list, list]:
    """The app's and the reference's poll requests, each checked once before the load."""
    run, reference = stage.run, stage.reference
    public_ids = [p["public_id"] for p in stage.purchases]
    lines = poll_lines(stage.app, completed_owners(stage.url, public_ids, run.mode.poll_users))
    expect_answer(stage.server.base, *lines[0], status=200, contains="purchase-status")
    if not reference:
        return lines, []
    owners = completed_owners(reference.url, reference.public_ids, run.mode.poll_users)
    reference_lines = poll_lines(reference.app, owners)
    expect_answer(reference.server.base, *reference_lines[0], status=200, contains="Completed")
    return lines, reference_lines


def measure_poll(stage: PostgresStage) -> None:
    """Measure poll (and reference_poll) in the same rounds."""
    run, reference = stage.run, stage.reference
    lines, reference_lines = request_lines(stage)

    def poll_round(i: int) -> dict[str, Result]:
        loads = {"poll": lambda: get_round(run, stage.server, lines, "poll")}
        if reference:
            loads["reference_poll"] = lambda: get_round(
                run, reference.server, reference_lines, "ref"
            )
        return paired(i, loads)

    results, ratios = alternate(run, "poll", poll_round)
    run.results["phases"]["poll"]["users"] = len(lines)
    for name, result in results.items():
        require_clean(name, result)
    run.results["ratios"]["poll"] = ratios["poll"]
    if reference:
        reference_ratio(run, "poll", ratios)


def measure_poll_pending(stage: PostgresStage) -> None:
    """Informational: polls of purchases still pending, with `?seen=pending`."""
    run = stage.run
    owners = [(p["user_id"], p["public_id"]) for p in stage.pending_polled]
    lines = poll_lines(stage.app, owners, "?seen=pending")
    expect_answer(stage.server.base, *lines[0], status=204)
    results, ratios = alternate(
        run,
        "poll_pending",
        lambda _: {"poll_pending": get_round(run, stage.server, lines, "poll_pending")},
    )
    run.results["phases"]["poll_pending"]["users"] = len(lines)
    require_clean("poll_pending", results["poll_pending"])
    run.results["info"]["poll_pending_ratio"] = round(ratios["poll_pending"], 4)


def run_phase(stage: PostgresStage) -> None:
    """poll, then (full run) poll_pending, then the ledger and server log checks."""
    measure_poll(stage)
    if stage.run.mode.extras:
        measure_poll_pending(stage)
    check_ledger(stage.run, "poll", stage.url)
    check_server_log(stage.run, stage.server, "poll")
