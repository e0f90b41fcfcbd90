"""What must hold after every phase, whatever the mode: the ledger verifies, grants equal
paid purchases, the server logs are clean and every answer was what the load expects."""

from __future__ import annotations

from typing import Any

from app.models import PAID_STATUSES

from .harness import BenchFailure, Run, log
from .load import Result
from .queries import query
from .servers import Server


def check_ledger(run: Run, phase: str, database_url: str) -> None:
    """`flask credits verify-ledger` must pass and grants must match paid purchases exactly.

    The command runs in-process through Flask's CLI runner (the same command, without a
    second interpreter start-up per check).
    """
    problems = []
    app = run.app_for(database_url)
    result = app.test_cli_runner().invoke(args=["credits", "verify-ledger"])
    if result.exit_code != 0 or "ledger ok" not in result.output:
        problems.append(f"verify-ledger exit {result.exit_code}: {result.output.strip()[-1500:]}")
    granted = grants_vs_paid(database_url)
    problems.extend(granted["problems"])
    run.results["ledger_checks"].append(
        {"phase": phase, "ok": not problems, **granted, "problems": problems}
    )
    if problems:
        run.results["ledger_ok"] = False
        for problem in problems:
            log(f"LEDGER CHECK FAILED after {phase}: {problem}")
        raise BenchFailure(f"ledger check failed after {phase}")
    log(
        f"ledger ok after {phase}: {granted['paid_purchases']:,} paid purchases, "
        f"{granted['grants']:,} grants, {granted['entries']:,} entries"
    )


def grant_figures(database_url: str) -> dict[str, int]:
    """Paid purchases and their credits, grants and the credits they gave, and the mismatches."""
    paid = ", ".join(f"'{s.value}'" for s in PAID_STATUSES)
    ((paid_count, paid_credits),) = query(
        database_url,
        f"SELECT count(*), coalesce(sum(credits), 0) FROM purchases WHERE status IN ({paid})",  # noqa: S608
    )
    ((grants, granted),) = query(
        database_url,
        "SELECT count(DISTINCT t.id), coalesce(sum(e.amount), 0) FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id "
        "JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE t.kind = 'grant' AND a.user_id IS NOT NULL",
    )
    ((ungranted,),) = query(
        database_url,
        f"SELECT count(*) FROM purchases p WHERE p.status IN ({paid}) AND NOT EXISTS "  # noqa: S608
        "(SELECT 1 FROM ledger_transactions t WHERE t.purchase_id = p.id AND t.kind = 'grant')",
    )
    ((unpaid_granted,),) = query(
        database_url,
        f"SELECT count(*) FROM ledger_transactions t JOIN purchases p ON p.id = t.purchase_id "  # noqa: S608
        f"WHERE t.kind = 'grant' AND p.status NOT IN ({paid})",
    )
    ((entries,),) = query(database_url, "SELECT count(*) FROM ledger_entries")
    figures = (paid_count, paid_credits, grants, granted, entries, ungranted, unpaid_granted)
    names = ("paid_purchases", "paid_credits", "grants", "granted_credits", "entries")
    return dict(zip((*names, "ungranted", "unpaid_granted"), map(int, figures), strict=True))


def grants_vs_paid(database_url: str) -> dict[str, Any]:
    """Compare what the ledger granted with the purchases that were paid."""
    figures = grant_figures(database_url)
    ungranted, unpaid_granted = figures.pop("ungranted"), figures.pop("unpaid_granted")
    problems = []
    if (figures["paid_purchases"], figures["paid_credits"]) != (
        figures["grants"],
        figures["granted_credits"],
    ):
        problems.append(
            f"{figures['paid_purchases']} paid purchases of {figures['paid_credits']} credits, "
            f"but {figures['grants']} grants of {figures['granted_credits']} credits"
        )
    if ungranted:
        problems.append(f"{ungranted} paid purchases have no grant")
    if unpaid_granted:
        problems.append(f"{unpaid_granted} grants belong to purchases that are not paid")
    return {**figures, "problems": problems}


def check_server_log(run: Run, server: Server, phase: str) -> None:
    """No `database is locked` and no traceback in a server's log."""
    text = server.log_text()
    locked = text.count("database is locked")
    tracebacks = text.count("Traceback (most recent call last)")
    run.results["phases"].setdefault(f"log_{phase}", {}).update(
        database_locked=locked, tracebacks=tracebacks
    )
    if locked:
        raise BenchFailure(f"{phase}: 'database is locked' {locked} time(s) in {server.log_path}")
    if tracebacks:
        raise BenchFailure(f"{phase}: {tracebacks} traceback(s) in {server.log_path}")


def require_clean(phase: str, result: Result, *, allow_other: bool = False) -> None:
    """No 5xx answers, and (unless allowed) nothing but 200 and 204."""
    if result.status_5xx:
        raise BenchFailure(f"{phase}: {result.status_5xx} answers were 5xx")
    if result.status_other and not allow_other:
        raise BenchFailure(f"{phase}: {result.status_other} answers were not 200/204")


def require_credited(name: str, result: Result) -> None:
    """Every delivery of a fulfilment load must have credited a purchase."""
    if result.exhausted:
        raise BenchFailure(f"{name} ran out of distinct events: raise event_factor")
    if result.counted != result.requests:
        raise BenchFailure(f"{name}: {result.requests - result.counted} deliveries did not credit")
