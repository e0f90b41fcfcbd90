"""State persists across restarts and is shared safely by threads and processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import stripe

from stripe_sandbox import create_app
from tests.helpers.sandbox_sdk import (
    AppFactory,
    client_for,
    expire_sessions,
    make_session,
    make_shop,
)
from tests.helpers.webhook_receivers import Receiver

REPO_ROOT = Path(__file__).resolve().parents[2]
FLUSH_SCRIPT = """
import sys
from stripe_sandbox import create_app
app = create_app({"STATE_PATH": sys.argv[1], "START_WORKER": False, "DELIVERY_BACKOFF": 0})
box = app.extensions["stripe_sandbox"]
print(box.flush())
box.close()
"""


def test_ids_stay_valid_across_restarts(make_sandbox: AppFactory) -> None:
    first = make_sandbox()
    shop = make_shop(client_for(first))
    first.extensions["stripe_sandbox"].close()

    restarted = client_for(make_sandbox())
    assert restarted.v1.products.retrieve(shop.product.id).name == "Pro Pack"
    assert restarted.v1.prices.list(params={"lookup_keys": ["pro"]}).data[0].id == shop.price.id
    session = make_session(restarted, shop)
    assert session.amount_total == 1000


def test_default_state_is_a_private_temp_file() -> None:
    one, two = create_app({"START_WORKER": False}), create_app({"START_WORKER": False})
    try:
        path = one.extensions["stripe_sandbox"].store.path
        assert path != two.extensions["stripe_sandbox"].store.path
        assert Path(path).exists()
    finally:
        one.extensions["stripe_sandbox"].close()
        two.extensions["stripe_sandbox"].close()
    assert not Path(path).exists()


def test_concurrent_writers_share_one_account(make_sandbox: AppFactory) -> None:
    clients = [client_for(make_sandbox()) for _ in range(2)]
    errors: list[BaseException] = []

    def create(client: stripe.StripeClient, n: int) -> None:
        try:
            for i in range(10):
                client.v1.customers.create(params={"email": f"{n}-{i}@example.com"})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(clients[n % 2], n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    listed = clients[0].v1.customers.list(params={"limit": 100}).data
    assert len({c.id for c in listed}) == 60


def test_processes_claim_each_delivery_once(
    make_sandbox: AppFactory,
    tmp_path: Path,
    receiver: tuple[str, Receiver],
) -> None:
    url, endpoint = receiver
    app = make_sandbox(WEBHOOK_URL=url, WEBHOOK_TRANSPORT=None)
    created = expire_sessions(client_for(app), 30)
    state = str(tmp_path / "sandbox.sqlite3")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", FLUSH_SCRIPT, state],
            cwd=REPO_ROOT,  # so `stripe_sandbox` imports whatever the current directory
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    counts = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        counts.append(int(out.strip()))
    assert sum(counts) == 30
    delivered = sorted(json.loads(body)["id"] for _, body in endpoint.received)
    assert delivered == sorted(created)


def test_a_broken_timer_is_dropped_without_blocking_the_api(make_sandbox: AppFactory) -> None:
    app = make_sandbox()
    box = app.extensions["stripe_sandbox"]
    with box.store.write() as tx:
        broken = {"id": "pi_broken", "object": "payment_intent", "status": "processing"}
        tx.put({**broken, "latest_charge": None, "created": 0})
        tx.set_timer("settle_bank_transfer", "pi_broken", 0)
    assert box.tick() == 1
    with box.store.read() as tx:
        assert tx.get_timer("settle_bank_transfer", "pi_broken") is None
    assert client_for(app).v1.products.list().data == []
