"""`flat`: the same reads on a small and a large database (1,000 and 1,000,000 ledger entries
in the full run), each read's cost ratio the median of rounds alternating small and large;
then the admin totals in-process and the CSV export's memory (`flat_costs.py`)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from app.db import encode_cursor

from .checks import check_ledger, check_server_log, require_clean
from .config import FLAT_EXTRA_READS, FLAT_PAGE_READS, FLAT_READS
from .data import flat_bulk, flat_small
from .flat_costs import csv_memory, totals_cost
from .harness import BenchFailure, Run, log
from .load import get_paths
from .logins import bearer_token, session_cookie
from .probes import expect_answer, status_of
from .queries import deep_purchase_id, table_sizes
from .servers import Server

SIZES = ("small", "large")


@dataclass
class FlatStage:
    """Both databases, their servers and apps, and what the reads need of each."""

    run: Run
    small: Any  # data.FlatData: the rows both databases hold
    urls: dict[str, str]
    servers: dict[str, Server]
    apps: dict[str, Any]
    auth: dict[str, dict[str, list[dict[str, str]]]]
    cursors: dict[str, str]


def load_databases(run: Run) -> tuple[Any, dict[str, str]]:
    """The small data set in two copies of the template, then the bulk load of the large one."""
    mode = run.mode
    urls = {size: run.new_database(size, template="tpl") for size in SIZES}
    small = flat_small(urls["small"], mode.small_entries)
    large = flat_small(urls["large"], mode.small_entries)
    if [b.purchases for b in small.buyers] != [b.purchases for b in large.buyers]:
        raise BenchFailure("flat: the small data set differs between the two databases")
    log(
        f"flat: small data set {small.purchases:,} purchases, {small.entries:,} entries; "
        "loading the large one"
    )
    started = time.monotonic()
    extra_purchases = mode.large_purchases - small.purchases
    flat_bulk(urls["large"], extra_purchases, mode.large_entries - small.entries)
    load_seconds = time.monotonic() - started
    sizes = {size: table_sizes(urls[size]) for size in SIZES}
    run.results["flat_sizes"] = {**sizes, "load_seconds": round(load_seconds, 1)}
    log(f"flat: large data set {sizes['large']} (bulk load {load_seconds:.0f} s)")
    for size in SIZES:
        check_ledger(run, f"flat_load_{size}", urls[size])
    return small, urls


def auth_headers(app, data) -> dict[str, list[dict[str, str]]]:
    """Per buyer (and for the admin, once per buyer slot): header sets for each auth kind."""
    cookies = [f"session={session_cookie(app, b.user_id)}" for b in data.buyers]
    tokens = [bearer_token(app, b.user_id) for b in data.buyers]
    admin_cookie = f"session={session_cookie(app, data.admin.user_id)}"
    admin_token = bearer_token(app, data.admin.user_id)
    n = len(data.buyers)
    return {
        "cookie": [{"Cookie": c} for c in cookies],
        "token": [{"Authorization": f"Bearer {t}"} for t in tokens],
        "admin_cookie": [{"Cookie": admin_cookie}] * n,
        "admin_token": [{"Authorization": f"Bearer {admin_token}"}] * n,
    }


def deep_cursor(database_url: str) -> tuple[str, int]:
    """The admin list's cursor three quarters deep into the completed purchases, newest first,
    and how many purchases come before it."""
    row_id, offset = deep_purchase_id(database_url)
    return encode_cursor(row_id), offset


def open_stage(run: Run) -> FlatStage:
    """Load both databases and serve the app on each."""
    small, urls = load_databases(run)
    servers = {
        size: run.start(f"app_flat_{size}", "wsgi:app", run.app_env(urls[size])) for size in SIZES
    }
    apps = {size: run.app_for(urls[size]) for size in SIZES}
    auth = {size: auth_headers(apps[size], small) for size in SIZES}
    cursors = {size: deep_cursor(urls[size]) for size in SIZES}
    run.results["flat_sizes"]["deep_page_offset"] = {s: cursors[s][1] for s in cursors}
    cursor_of = {size: cursors[size][0] for size in SIZES}
    return FlatStage(run, small, urls, servers, apps, auth, cursor_of)


def reads_to_measure(stage: FlatStage) -> dict[str, tuple[str, str]]:
    """The held reads, and in the full run the extra reads and the pages that answer 200."""
    run = stage.run
    if not run.mode.extras:
        return dict(FLAT_READS)
    reads = {**FLAT_READS, **FLAT_EXTRA_READS}
    for name, (template, kind) in FLAT_PAGE_READS.items():
        answers = {
            size: status_of(stage.servers[size].base, template, stage.auth[size][kind][0])
            for size in SIZES
        }
        if set(answers.values()) == {200}:
            reads[name] = (template, kind)
        else:
            run.results["info"].setdefault("skipped_reads", {})[name] = answers
            log(f"flat {name}: skipped, {template} answered {answers}")
    return reads


def read_lines(stage: FlatStage, name: str, template: str, kind: str) -> dict[str, list]:
    """Each buyer's request of the read (their newest purchase, the deep cursor), per size."""
    extra = {"HX-Request": "true"} if name == "poll" else {}
    lines = {}
    for size in SIZES:
        lines[size] = [
            (
                template.format(public_id=buyer.purchases[-1], cursor=stage.cursors[size]),
                {**stage.auth[size][kind][i], **extra},
            )
            for i, buyer in enumerate(stage.small.buyers)
        ]
        expect_answer(stage.servers[size].base, *lines[size][0], status=200)
    return lines


def measure_read(stage: FlatStage, name: str, template: str, kind: str) -> dict[str, Any]:
    """Warm both servers on the read, then rounds of `flat_order`; the cost is the median
    round's small rate over its large rate."""
    mode, file = stage.run.mode, stage.run.tmp / f"flat-{name}.txt"
    lines = read_lines(stage, name, template, kind)
    for size in SIZES:  # connections, prepared statements
        get_paths(stage.servers[size].base, lines[size], file, mode, 1)
    rps: dict[str, list[float]] = {size: [] for size in SIZES}
    rounds = []
    for _ in range(mode.flat_rounds):
        measured: dict[str, list[float]] = {size: [] for size in SIZES}
        for size in mode.flat_order:
            base = stage.servers[size].base
            result = get_paths(base, lines[size], file, mode, mode.flat_seconds)
            require_clean(f"flat {name} ({size})", result)
            measured[size].append(result.rps)
            rps[size].append(result.rps)
        rounds.append(statistics.mean(measured["small"]) / statistics.mean(measured["large"]))
    # The median round: one round caught by a hiccup of the shared machine moves nothing.
    return {
        "cost_ratio": round(statistics.median(rounds), 3),
        "rounds": [round(r, 3) for r in rounds],
        "rps_small": round(statistics.mean(rps["small"]), 1),
        "rps_large": round(statistics.mean(rps["large"]), 1),
        "held_to_limit": name in FLAT_READS,
        "url": template,
    }


def run_phase(run: Run) -> None:
    """Every read at both sizes, the totals, the CSV export; then checks on both databases."""
    stage = open_stage(run)
    flat: dict[str, Any] = {}
    for name, (template, kind) in reads_to_measure(stage).items():
        flat[name] = figures = measure_read(stage, name, template, kind)
        log(
            f"flat {name}: {figures['rps_small']:,.0f} req/s small, "
            f"{figures['rps_large']:,.0f} large: cost x{figures['cost_ratio']:.2f} "
            f"(median of {figures['rounds']})"
        )
    run.results["flat"] = flat
    run.results["info"]["totals"] = totals_cost(stage.apps)
    log(f"flat totals (reported, not held flat): {run.results['info']['totals']}")
    csv = run.results["csv"] = csv_memory(
        stage.servers["large"], stage.auth["large"]["admin_cookie"][0]
    )
    log(
        f"csv: {csv['rows']:,} rows, {csv['megabytes']:.1f} MB,"
        f" worker peak memory growth {csv['peak_growth_mb']:.1f} MB"
    )
    for size in SIZES:
        check_server_log(run, stage.servers[size], f"flat_{size}")
        check_ledger(run, f"flat_{size}", stage.urls[size])
        run.stop(stage.servers[size])
