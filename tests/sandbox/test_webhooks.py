"""Webhook delivery: Stripe's signatures, retries, chaos options, the worker, flush."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import stripe

from stripe_sandbox import Sandbox
from tests.helpers.sandbox_sdk import (
    SECRET,
    WEBHOOK_URL,
    AppFactory,
    client_for,
    expire_sessions,
    make_session,
    make_shop,
    pay,
)
from tests.helpers.webhook_receivers import Receiver, Recorder


def test_signatures_verify_with_construct_event(
    stripe_client: stripe.StripeClient, sandbox: Sandbox, recorder: Recorder
) -> None:
    session = make_session(stripe_client, make_shop(stripe_client))
    pay(stripe_client, session.id, card="4242424242424242")
    assert recorder.calls == []  # recorded, not yet delivered
    assert sandbox.flush() == 1

    url, headers, body = recorder.calls[0]
    assert url == WEBHOOK_URL
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Stripe-Signature"].startswith("t=")
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_test_previous")


def test_events_are_listable_before_delivery(make_sandbox: AppFactory, recorder: Recorder) -> None:
    app = make_sandbox(DELIVERY_DELAY=60)
    client = client_for(app)
    box: Sandbox = app.extensions["stripe_sandbox"]
    [event_id] = expire_sessions(client, 1)

    pending = client.v1.events.retrieve(event_id)
    assert pending.pending_webhooks == 1
    assert [e.id for e in client.v1.events.list(params={"delivery_success": False}).data] == [
        event_id
    ]
    assert box.run_once() == 0  # the delay has not passed
    assert recorder.calls == []

    assert box.flush() == 1  # flush ignores the delay
    assert client.v1.events.retrieve(event_id).pending_webhooks == 0
    assert client.v1.events.list(params={"delivery_success": False}).data == []
    assert [e.id for e in client.v1.events.list(params={"delivery_success": True}).data] == [
        event_id
    ]


def test_a_500_is_retried_and_each_attempt_is_signed_anew(
    stripe_client: stripe.StripeClient, sandbox: Sandbox, recorder: Recorder
) -> None:
    recorder.statuses = [500, 503]
    [event_id] = expire_sessions(stripe_client, 1)
    assert sandbox.flush() == 1
    assert len(recorder.calls) == 3
    for _, headers, body in recorder.calls:
        assert json.loads(body)["id"] == event_id
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    with sandbox.store.read() as tx:
        [delivery] = tx.deliveries_for(event_id)
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == (
        "succeeded",
        3,
        200,
    )


def test_delivery_gives_up_after_max_attempts(make_sandbox: AppFactory, recorder: Recorder) -> None:
    app = make_sandbox(DELIVERY_MAX_ATTEMPTS=3)
    client = client_for(app)
    recorder.statuses = [500] * 10
    [event_id] = expire_sessions(client, 1)
    assert app.extensions["stripe_sandbox"].flush() == 0
    assert len(recorder.calls) == 3
    assert client.v1.events.retrieve(event_id).pending_webhooks == 1
    failed = client.v1.events.list(params={"delivery_success": False}).data
    assert [e.id for e in failed] == [event_id]


def test_backoff_delays_the_worker_but_not_flush(
    make_sandbox: AppFactory, recorder: Recorder
) -> None:
    app = make_sandbox(DELIVERY_BACKOFF=30)
    box: Sandbox = app.extensions["stripe_sandbox"]
    recorder.statuses = [500]
    expire_sessions(client_for(app), 1)
    assert box.run_once() == 1  # attempted once, failed, next try in 30 s
    assert box.run_once() == 0
    assert len(recorder.calls) == 1
    assert box.flush() == 1
    assert len(recorder.calls) == 2


def test_duplicated_deliveries(make_sandbox: AppFactory, recorder: Recorder) -> None:
    app = make_sandbox(CHAOS_DUPLICATES=3)
    [event_id] = expire_sessions(client_for(app), 1)
    assert app.extensions["stripe_sandbox"].flush() == 3
    assert [e["id"] for e in recorder.events] == [event_id] * 3


def test_shuffled_deliveries(make_sandbox: AppFactory, recorder: Recorder) -> None:
    app = make_sandbox(CHAOS_SHUFFLE=True)
    created = expire_sessions(client_for(app), 10)
    assert app.extensions["stripe_sandbox"].flush() == 10
    arrived = [e["id"] for e in recorder.events]
    assert sorted(arrived) == sorted(created)
    assert arrived != created  # 1 chance in 10! of a false failure


def test_deliveries_keep_order_without_shuffle(
    stripe_client: stripe.StripeClient, sandbox: Sandbox, recorder: Recorder
) -> None:
    created = expire_sessions(stripe_client, 5)
    sandbox.flush()
    assert [e["id"] for e in recorder.events] == created


def test_fail_first_attempt(make_sandbox: AppFactory, recorder: Recorder) -> None:
    app = make_sandbox(CHAOS_FAIL_FIRST=True)
    box: Sandbox = app.extensions["stripe_sandbox"]
    [event_id] = expire_sessions(client_for(app), 1)
    assert box.flush() == 1
    assert len(recorder.calls) == 1  # the first attempt never reached the endpoint
    with box.store.read() as tx:
        [delivery] = tx.deliveries_for(event_id)
    assert delivery["attempts"] == 2


def test_without_webhook_url_events_are_only_recorded(
    make_sandbox: AppFactory, recorder: Recorder
) -> None:
    app = make_sandbox(WEBHOOK_URL=None)
    client = client_for(app)
    [event_id] = expire_sessions(client, 1)
    assert client.v1.events.retrieve(event_id).pending_webhooks == 0
    assert app.extensions["stripe_sandbox"].flush() == 0
    assert recorder.calls == []


def test_delivery_over_http(make_sandbox: AppFactory, receiver: tuple[str, Receiver]) -> None:
    url, endpoint = receiver
    endpoint.statuses = [500]
    app = make_sandbox(WEBHOOK_URL=url, WEBHOOK_TRANSPORT=None)
    [event_id] = expire_sessions(client_for(app), 1)
    assert app.extensions["stripe_sandbox"].flush() == 1
    assert len(endpoint.received) == 2
    headers, body = endpoint.received[-1]
    assert headers["User-Agent"].startswith("Stripe/1.0")
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert event.id == event_id


def test_unreachable_endpoint_is_a_failed_attempt(make_sandbox: AppFactory) -> None:
    app = make_sandbox(
        WEBHOOK_URL="http://127.0.0.1:9/nothing", WEBHOOK_TRANSPORT=None, DELIVERY_MAX_ATTEMPTS=2
    )
    box: Sandbox = app.extensions["stripe_sandbox"]
    [event_id] = expire_sessions(client_for(app), 1)
    assert box.flush() == 0
    with box.store.read() as tx:
        [delivery] = tx.deliveries_for(event_id)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 2
    assert "Error" in delivery["last_error"]


def test_flush_helper_over_http(
    live_url: str, live_client: stripe.StripeClient, recorder: Recorder
) -> None:
    expire_sessions(live_client, 2)
    auth = {"Authorization": "Bearer sk_test_x"}
    response = requests.post(f"{live_url}/v1/test_helpers/webhooks/flush", headers=auth, timeout=60)
    assert response.status_code == 200
    assert response.json() == {"object": "sandbox.webhook_flush", "delivered": 2, "pending": 0}
    assert len(recorder.calls) == 2


def test_worker_starts_lazily_and_stops(make_sandbox: AppFactory) -> None:
    app = make_sandbox(START_WORKER=True)
    box: Sandbox = app.extensions["stripe_sandbox"]
    assert not box.worker_running
    app.test_client().get("/v1/products", headers={"Authorization": "Bearer sk_test_x"})
    assert box.worker_running
    box.stop_worker()
    assert not box.worker_running
    app.test_client().get("/v1/products", headers={"Authorization": "Bearer sk_test_x"})
    assert not box.worker_running  # stopped on purpose: requests do not restart it
    box.start_worker()
    assert box.worker_running


def test_concurrent_flushes_deliver_each_event_once(
    make_sandbox: AppFactory, recorder: Recorder
) -> None:
    first, second = make_sandbox(), make_sandbox()  # two "workers" on one state file
    created = expire_sessions(client_for(first), 20)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda b=box: results.append(b.flush()))
        for box in [first.extensions["stripe_sandbox"], second.extensions["stripe_sandbox"]] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 20
    assert sorted(e["id"] for e in recorder.events) == sorted(created)
