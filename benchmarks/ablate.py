"""What each part of the fulfilment and poll paths costs: CPU per request, in-process, with one
part at a time replaced by a stand-in that does nothing.

    python -m benchmarks.ablate [--requests 200] [--repeats 5]

Uses a fresh PostgreSQL database (BENCH_DATABASE_URL's server, dropped at the end) and the
app's test client, one request at a time. The variants of a path are measured in turn,
`--repeats` times over, and each variant's figure is its median, so a slower minute of the
machine moves every variant alike. A part's cost is "as is" minus its variant. Only for
measuring: a stand-in skips work the product needs (a variant without audit records credits
purchases no one could trace). Writes results/profile/ablate.json and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .config import FULL, RESULTS, ROOT, USER_AGENT

CONSTANT_BODY = '<section id="purchase-status"></section>'


@contextlib.contextmanager
def replaced(owner: object, name: str, stand_in: object) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, stand_in)
    try:
        yield
    finally:
        setattr(owner, name, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablate")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    from app.domain import audit, mail
    from app.extensions import db, limiter, login_manager
    from app.payments import dispatch
    from app.web.checkout import views as checkout_views

    from . import run as bench
    from .data import pending_purchases, prepare_schema
    from .events import WEBHOOK_PATH, event_bodies, session_template, sign_all

    n, repeats = args.requests, args.repeats
    runner = bench.Run(FULL, ROOT, None)
    report: dict[str, dict[str, float]] = {}
    try:
        url = runner.new_database("ablate")
        prepare_schema(runner.app_env(url), ROOT)
        app = runner.in_process_app(url)
        client = app.test_client()
        template, _ = session_template()

        def cpu_ms(send: Callable[[int], object], expect: bytes) -> float:
            started = time.thread_time()
            for i in range(n):
                response = send(i)
                if response.status_code != 200 or expect not in response.data:
                    raise RuntimeError(f"{response.status_code} {response.data[:300]!r}")
            return (time.thread_time() - started) / n * 1000

        def measure(
            path: str, variants: dict, make_send: Callable[[], Callable], expect: bytes
        ) -> None:
            figures: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(repeats):
                for name, stand_ins in variants.items():
                    send = make_send()
                    with contextlib.ExitStack() as stack:
                        for owner, attribute, stand_in in stand_ins:
                            stack.enter_context(replaced(owner, attribute, stand_in))
                        figures[name].append(cpu_ms(send, expect))
            report[path] = {name: round(statistics.median(v), 3) for name, v in figures.items()}

        # fulfil: every variant credits purchases of its own, so each send has a fresh event.
        fulfil_variants = {
            "as is": [],
            "no audit records": [(audit, "record", lambda *a, **k: None)],
            "no receipt (outbox row and its send)": [
                (mail, "enqueue_receipt", lambda *a, **k: None)
            ],
            "no dedupe read before the transaction": [
                (dispatch, "_already_recorded", lambda _id: False)
            ],
        }
        seeds = iter(range(100, 100 + repeats * len(fulfil_variants)))

        def fulfil_sender() -> Callable[[int], object]:
            purchases = pending_purchases(url, n, seed=next(seeds), checked=True)
            signed = sign_all(event_bodies(template, purchases), runner.webhook_secret)
            headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
            return lambda i: client.post(
                WEBHOOK_PATH,
                data=signed[i][1],
                headers={**headers, "Stripe-Signature": signed[i][0]},
            )

        measure("fulfil", fulfil_variants, fulfil_sender, b'"credited"')

        # poll: buyers polling their completed purchase (credited by the fulfil variants).
        rows = bench.query(
            url,
            "SELECT user_id, public_id FROM purchases WHERE status = 'completed' ORDER BY id"
            " LIMIT 20",
        )
        cookies = [(bench.session_cookie(app, user_id), public_id) for user_id, public_id in rows]
        loaded = {}
        load_user = login_manager._user_callback

        def user_from_memory(user_id: str):
            if user_id not in loaded:
                user = load_user(user_id)
                db.session.expunge(user)
                loaded[user_id] = user
            return loaded[user_id]

        poll_variants = {
            "as is": [],
            "user from memory (no user load)": [
                (login_manager, "_user_callback", user_from_memory)
            ],
            "no template (a constant body)": [
                (checkout_views, "render_template", lambda *a, **k: CONSTANT_BODY)
            ],
            "no rate-limiter check": [(limiter, "enabled", False)],
        }

        def poll_sender() -> Callable[[int], object]:
            def send(i: int):
                cookie, public_id = cookies[i % len(cookies)]
                client.set_cookie("session", cookie, domain="localhost")
                return client.get(
                    f"/credits/purchase/{public_id}/status",
                    headers={"User-Agent": USER_AGENT, "HX-Request": "true"},
                )

            return send

        measure("poll", poll_variants, poll_sender, b"purchase-status")
    finally:
        runner.cleanup()

    out = RESULTS / "profile"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablate.json").write_text(json.dumps(report, indent=2) + "\n")
    for path, figures in report.items():
        whole = figures["as is"]
        print(f"{path}: {whole:.2f} ms of CPU per request as is")
        for name, value in figures.items():
            if name != "as is":
                print(f"  {name:45s} {value:6.2f} ms  (the part: {whole - value:+.2f} ms)")
    print(f"written to {Path(out / 'ablate.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
