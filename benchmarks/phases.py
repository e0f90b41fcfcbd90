"""Which phases run, in what order: fulfil, replay and poll on one PostgreSQL database,
then SQLite, then flat. After every phase the ledger must verify (`checks.py`)."""

from __future__ import annotations

import time
import traceback

from . import phase_flat, phase_fulfil, phase_poll, phase_replay, phase_sqlite
from .harness import BenchFailure, Run, log
from .postgres_stage import close_stage, open_stage


def postgres_phases(run: Run) -> None:
    """fulfil, then replay and poll on what it delivered."""
    stage = open_stage(run)
    phase_fulfil.run_phase(stage)
    if run.wanted("replay"):
        phase_replay.run_phase(stage)
    if run.wanted("poll"):
        phase_poll.run_phase(stage)
    close_stage(stage)


def run_phases(run: Run) -> None:
    """Start the bare endpoint and the template database, then run the wanted phases."""
    started = time.monotonic()
    log(f"mode {run.mode.name}; logs in {run.log_dir}")
    run.bare = run.start("bare", "benchmarks.bare_app:app", {}, health="/bare")
    if any(run.wanted(p) for p in ("fulfil", "replay", "poll", "flat")):
        run.prepare_schema(run.new_database("tpl"))
    if any(run.wanted(p) for p in ("fulfil", "replay", "poll")):
        postgres_phases(run)
    if run.wanted("sqlite"):
        phase_sqlite.run_phase(run)
    if run.wanted("flat"):
        phase_flat.run_phase(run)
    run.results["duration_s"] = round(time.monotonic() - started, 1)


def run_safely(run: Run) -> str | None:
    """Run the phases; return what failed, if anything, after cleaning up either way."""
    try:
        run_phases(run)
    except BenchFailure as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails
        traceback.print_exc()
        return f"{type(exc).__name__}: {exc}"
    finally:
        run.cleanup()
    return None
