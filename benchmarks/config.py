"""What the benchmark measures, how hard it pushes, and the floors it holds the app to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
WRK_SCRIPTS = BENCH / "wrk"

# Floors for the full run: the app's throughput as a share of the bare endpoint's, measured
# side by side in the same run. fulfil's floor is what a minimal hand-written SQLAlchemy Core
# handler reaches on these machines; AIM is where we want to be.
FLOORS = {"fulfil": 0.15, "replay": 0.30, "poll": 0.30}
AIMS = {"fulfil": 0.25}
# The flat phase: each read may cost at most this many times what it costs on the small data.
FLAT_LIMIT = 1.5
# The CSV export of every purchase must stream: the gunicorn worker's peak memory may grow by
# less than this while it answers.
CSV_MEMORY_LIMIT_MB = 50.0

# The reads of the flat phase, held to FLAT_LIMIT: the pages people use (the admin list loads
# its totals and chart in a request of their own, measured separately as "totals").
# Auth: "token" is a bearer token of the buyer, "cookie" the buyer's signed session cookie,
# "admin_token" / "admin_cookie" the same for an admin. {public_id} is the buyer's purchase.
FLAT_READS: dict[str, tuple[str, str]] = {
    "balance": ("/api/v1/billing/credits/balance", "token"),
    "poll": ("/credits/purchase/{public_id}/status", "cookie"),
    "history": ("/credits/history", "cookie"),
    "admin_first": ("/admin/credits/purchases?status=completed", "admin_cookie"),
    "admin_deep": ("/admin/credits/purchases?status=completed&cursor={cursor}", "admin_cookie"),
}
# Measured at both sizes and reported, but not held to FLAT_LIMIT (full runs only).
FLAT_EXTRA_READS: dict[str, tuple[str, str]] = {
    "transactions": ("/api/v1/billing/credits/transactions?limit=20", "token"),
    "history_json": ("/api/v1/billing/credits/purchases?limit=20", "token"),
    "admin_json": (
        "/api/v1/admin/billing/credits/purchases?status=completed&limit=20",
        "admin_token",
    ),
}
# Pages measured and reported only (none at the moment).
FLAT_PAGE_READS: dict[str, tuple[str, str]] = {}

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) credits-bench/1.0"


SQLITE_WORKERS = 2  # the SQLite phase's gunicorn workers, as the phase is specified


@dataclass(frozen=True)
class Mode:
    name: str
    threads: int  # wrk threads
    connections: int  # wrk connections
    rounds: int  # a load phase (fulfil, replay, poll, sqlite) is this many rounds ...
    round_seconds: int  # ... of this long, each between two bare measurements as long
    flat_seconds: int  # one flat measurement
    flat_order: tuple[str, ...]  # small/large, alternated so drift in the machine cancels out
    flat_rounds: int  # rounds of flat_order per read; the cost ratio is their median
    max_requests: int  # per wrk thread: a bound on every load besides its duration
    event_factor: float  # signed events prepared = bare rps x seconds x this (never run out)
    min_events: int
    poll_users: int
    small_entries: int  # ledger entries in the small data set of the flat phase
    large_entries: int
    large_purchases: int
    results_file: str
    enforce_floors: bool
    extras: bool  # informational measurements (pending polls, extra and page reads)
    # Gunicorn workers per server; None keeps gunicorn.conf.py's default. The smoke run boots
    # two, as its servers' start-up is a large share of its minute.
    workers: int | None = None


FULL = Mode(
    name="full",
    threads=2,
    connections=16,
    rounds=3,
    round_seconds=4,
    flat_seconds=2,
    flat_order=("small", "large", "large", "small"),
    flat_rounds=3,
    max_requests=200_000,
    event_factor=0.7,
    min_events=2_000,
    poll_users=64,
    small_entries=1_000,
    large_entries=1_000_000,
    large_purchases=200_000,
    results_file="latest.json",
    enforce_floors=True,
    extras=True,
)

SMOKE = Mode(
    name="smoke",
    threads=2,
    connections=8,
    rounds=1,
    round_seconds=2,
    flat_seconds=1,
    flat_order=("small", "large"),
    flat_rounds=1,
    max_requests=20_000,
    event_factor=0.7,
    min_events=300,
    poll_users=16,
    small_entries=1_000,
    large_entries=20_000,
    large_purchases=4_000,
    # The smoke run is part of `make test`: its output is not committed.
    results_file="logs/smoke.json",
    enforce_floors=False,
    extras=False,
    workers=2,
)
