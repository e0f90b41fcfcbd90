"""`replay`: the events that were delivered, delivered again (signed anew, same bodies), in a
loop for the round; counted only when the answer says "duplicate", and nothing may be written."""

from __future__ import annotations

import json

from .checks import check_ledger, check_server_log, require_clean
from .events import REDELIVERY_PATH, sign_all
from .harness import BenchFailure, Run
from .load import Result
from .postgres_stage import PostgresStage, reference_ratio
from .queries import ledger_counts, recorded_event_ids
from .rounds import alternate, paired, post_round


def redeliveries(run: Run, database_url: str, bodies: list[str]) -> list:
    """The delivered events among `bodies`, signed anew for delivery again."""
    delivered = recorded_event_ids(database_url)
    again = [b for b in bodies if json.loads(b)["id"] in delivered]
    return sign_all(again, run.webhook_secret)


def round_loads(stage: PostgresStage, signed: list, reference_signed: list):
    """Round i: the app's redeliveries, and the reference's at its redelivery path."""
    run, reference = stage.run, stage.reference

    def replay_round(i: int) -> dict[str, Result]:
        loads = {"replay": lambda: post_round(run, stage.server, signed, "replay", again=True)}
        if reference:
            loads["reference_replay"] = lambda: post_round(
                run,
                reference.server,
                reference_signed,
                "ref_replay",
                again=True,
                path=REDELIVERY_PATH,
            )
        return paired(i, loads)

    return replay_round


def run_phase(stage: PostgresStage) -> None:
    """Measure replay (and reference_replay); fail if either ledger grew by a single row."""
    run, url, reference = stage.run, stage.url, stage.reference
    before = ledger_counts(url)
    reference_before = ledger_counts(reference.url) if reference else None
    signed = redeliveries(run, url, stage.bodies)
    reference_signed = redeliveries(run, reference.url, reference.bodies) if reference else []
    results, ratios = alternate(run, "replay", round_loads(stage, signed, reference_signed))
    run.results["phases"]["replay"]["events"] = len(signed)
    for name, result in results.items():
        require_clean(name, result)
        if result.counted != result.requests:
            raise BenchFailure(f"{name}: some redeliveries were not answered duplicate")
    if ledger_counts(url) != before:
        raise BenchFailure(f"replay wrote to the ledger: {before} -> {ledger_counts(url)}")
    if reference and ledger_counts(reference.url) != reference_before:
        raise BenchFailure("reference_replay wrote to the ledger")
    run.results["ratios"]["replay"] = ratios["replay"]
    run.results["phases"]["replay"]["new_ledger_entries"] = 0
    check_ledger(run, "replay", url)
    check_server_log(run, stage.server, "replay")
    if reference:
        reference_ratio(run, "replay", ratios)
