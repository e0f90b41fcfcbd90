"""`sqlite_fulfil` and `sqlite_poll`: the same fulfilment and polling at once against two
workers on SQLite; zero 5xx and zero `database is locked`."""

from __future__ import annotations

from .checks import check_ledger, check_server_log, require_clean, require_credited
from .config import SQLITE_WORKERS
from .data import pending_purchases
from .events import WEBHOOK_PATH, event_bodies, session_template, sign_all
from .harness import BenchFailure, Run
from .load import Result
from .logins import poll_lines
from .probes import post_event
from .rounds import (
    alternate,
    chunks,
    events_needed,
    get_round,
    post_round,
    run_together,
    wait_quiet,
)
from .servers import Server


def prime_pollers(run: Run, server: Server, url: str, template: dict) -> list:
    """Buyers with a completed purchase, delivered one by one; return their poll requests."""
    pollers = pending_purchases(url, run.mode.poll_users, seed=21, checked=True)
    for signature, payload in sign_all(event_bodies(template, pollers), run.webhook_secret):
        status, answer = post_event(server.base + WEBHOOK_PATH, payload, signature)
        if status != 200 or '"credited"' not in answer:
            raise BenchFailure(f"sqlite: priming delivery answered {status} {answer}")
    return poll_lines(run.app_for(url), [(p["user_id"], p["public_id"]) for p in pollers])


def signed_parts(run: Run, url: str, template: dict) -> tuple[int, list[list]]:
    """Pending purchases for the fulfilment load and their signed events, a share per round."""
    count = events_needed(run, 0.5)
    purchases = pending_purchases(url, count, seed=22, checked=True)
    check_ledger(run, "sqlite_load", url)
    signed = sign_all(event_bodies(template, purchases), run.webhook_secret)
    return count, chunks(signed, run.mode.rounds)


def round_loads(run: Run, server: Server, parts: list[list], lines: list):
    """Round i: fulfilment and polling at the same time, half the connections each."""
    half = max(1, run.mode.connections // 2)

    def sqlite_round(i: int) -> dict[str, Result]:
        outcome: dict[str, Result] = {}

        def fulfil_load() -> None:
            outcome["sqlite_fulfil"] = post_round(
                run, server, parts[i], "sqlite-events", connections=half, threads=1
            )

        def poll_load() -> None:
            outcome["sqlite_poll"] = get_round(
                run, server, lines, "sqlite-poll", connections=half, threads=1
            )

        run_together([fulfil_load, poll_load])
        return outcome

    return sqlite_round


def run_phase(run: Run) -> None:
    """Serve the app on a SQLite file with two workers and measure both loads at once."""
    url = f"sqlite:///{run.tmp / 'bench.sqlite3'}"
    run.prepare_schema(url)
    # Two workers, as the SQLite phase is specified (the config's default is four).
    env = {**run.app_env(url), "GUNICORN_WORKERS": str(SQLITE_WORKERS)}
    server = run.start("app_sqlite", "wsgi:app", env)
    template, _ = session_template()
    lines = prime_pollers(run, server, url, template)
    count, parts = signed_parts(run, url, template)
    results, ratios = alternate(run, "sqlite", round_loads(run, server, parts, lines))
    fulfil, poll = results["sqlite_fulfil"], results["sqlite_poll"]
    run.results["phases"]["sqlite_fulfil"]["events_prepared"] = count
    run.results["phases"]["sqlite_poll"]["users"] = len(lines)
    run.results["ratios"]["sqlite_fulfil"] = ratios["sqlite_fulfil"]
    run.results["ratios"]["sqlite_poll"] = ratios["sqlite_poll"]
    require_clean("sqlite_fulfil", fulfil)
    require_clean("sqlite_poll", poll)
    require_credited("sqlite_fulfil", fulfil)
    wait_quiet()
    check_server_log(run, server, "sqlite")
    check_ledger(run, "sqlite", url)
    run.stop(server)
