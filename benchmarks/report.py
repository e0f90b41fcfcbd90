"""The run's verdicts, the table it prints and the JSON it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import AIMS, CSV_MEMORY_LIMIT_MB, FLAT_LIMIT, FLOORS, SQLITE_WORKERS, Mode
from .servers import gunicorn_config

Row = tuple[str, str, str, str, str]


def gunicorn_setting(mode: Mode, app_root: Path) -> str:
    """How the servers of this run are configured, as the JSON's settings report it."""
    workers, threads = gunicorn_config(app_root)
    workers = mode.workers or workers
    return (
        f"gunicorn.conf.py ({workers} workers x {threads} gthreads; the SQLite phase"
        f" {SQLITE_WORKERS} workers), bind 127.0.0.1"
    )


def verdicts(results: dict[str, Any]) -> list[str]:
    """Every performance target missed (floors, flat, CSV memory)."""
    missed = []
    for name, floor in FLOORS.items():
        value = results["ratios"].get(name)
        if value is not None and value < floor:
            missed.append(f"{name} {value:.3f} is below its floor {floor}")
    for name, figures in results["flat"].items():
        if figures["held_to_limit"] and figures["cost_ratio"] > FLAT_LIMIT:
            missed.append(f"flat {name} costs x{figures['cost_ratio']} (limit x{FLAT_LIMIT})")
    csv = results.get("csv") or {}
    if csv and csv["peak_growth_mb"] >= CSV_MEMORY_LIMIT_MB:
        missed.append(f"csv peak memory growth {csv['peak_growth_mb']} MB >= {CSV_MEMORY_LIMIT_MB}")
    return missed


def ratio_rows(results: dict[str, Any]) -> list[Row]:
    """The measured ratios against their floors, then the reference and informational ones."""
    rows = []
    for name, value in results["ratios"].items():
        floor = FLOORS.get(name)
        status = "-" if floor is None else ("ok" if value >= floor else "BELOW FLOOR")
        limit = "-" if floor is None else f">= {floor}"
        rows.append((f"ratio {name}", f"{value:.3f}", limit, str(AIMS.get(name, "-")), status))
    info = results.get("info", {})
    for name in ("fulfil", "replay", "poll"):
        if f"reference_{name}_ratio" in info:
            share = f"info: {name} = {info[f'{name}_of_reference']:.0%} of it"
            value = f"{info[f'reference_{name}_ratio']:.3f}"
            rows.append((f"ratio reference_{name} (Core)", value, "-", "-", share))
    if "poll_pending_ratio" in info:
        value = f"{info['poll_pending_ratio']:.3f}"
        rows.append(("ratio poll_pending (204)", value, "-", "-", "info"))
    return rows


def flat_rows(results: dict[str, Any]) -> list[Row]:
    """The flat reads, the totals, the CSV export's memory and the ledger."""
    rows = []
    for name, figures in results["flat"].items():
        held, ok = figures["held_to_limit"], figures["cost_ratio"] <= FLAT_LIMIT
        status = ("ok" if ok else "OVER LIMIT") if held else "info"
        limit = f"<= x{FLAT_LIMIT}" if held else "-"
        rows.append((f"flat {name}", f"x{figures['cost_ratio']:.2f}", limit, "-", status))
    info = results.get("info", {})
    if "totals" in info:
        rows.append(("flat totals+chart", f"x{info['totals']['cost_ratio']}", "-", "-", "info"))
    csv = results.get("csv") or {}
    if csv:
        status = "ok" if csv["peak_growth_mb"] < CSV_MEMORY_LIMIT_MB else "OVER LIMIT"
        rows.append(
            (
                f"csv {csv['rows']:,} rows peak growth",
                f"{csv['peak_growth_mb']:.1f} MB",
                f"< {CSV_MEMORY_LIMIT_MB:.0f} MB",
                "-",
                status,
            )
        )
    rows.append(("ledger", "ok" if results["ledger_ok"] else "FAILED", "ok", "-", ""))
    return rows


def table(results: dict[str, Any]) -> str:
    """The results as the plain-text table the run prints."""
    rows = [("metric", "value", "floor/limit", "aim", "status")]
    rows += ratio_rows(results) + flat_rows(results)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def conclude(results: dict[str, Any], mode: Mode, failure: str | None) -> None:
    """Round the ratios, record what was missed and whether the run passed."""
    if failure:
        results["errors"].append(failure)
    results["ratios"] = {k: round(v, 4) for k, v in results["ratios"].items()}
    results["missed"] = verdicts(results)
    enforced = mode.enforce_floors and results["missed"]
    results["ok"] = not failure and results["ledger_ok"] and not enforced


def print_summary(results: dict[str, Any], mode: Mode, failure: str | None, output: Path) -> None:
    print()
    print(table(results))
    print()
    prefix = "MISSED: " if mode.enforce_floors else "below target (smoke, not enforced): "
    for line in results["missed"]:
        print(prefix + line)
    if failure:
        print(f"FAILED: {failure}")
    print(f"results: {output}")
