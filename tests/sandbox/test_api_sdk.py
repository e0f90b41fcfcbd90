"""stripe-python 16 driving the sandbox over HTTP (a live server on 127.0.0.1)."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from tests.helpers.sandbox_sdk import helper, make_session, make_shop, pay


def test_products_create_retrieve_update_list(live_client: stripe.StripeClient) -> None:
    created = live_client.v1.products.create(
        params={"name": "Starter", "description": "100 credits", "metadata": {"code": "starter"}}
    )
    assert created.id.startswith("prod_")
    assert created.object == "product"
    assert created.metadata["code"] == "starter"

    updated = live_client.v1.products.update(
        created.id, params={"active": False, "metadata": {"code": "", "tier": "1"}}
    )
    assert updated.active is False
    assert updated.metadata.to_dict() == {"tier": "1"}
    assert live_client.v1.products.retrieve(created.id).description == "100 credits"

    other = live_client.v1.products.create(params={"name": "Pro", "id": "prod_custom_pro"})
    assert other.id == "prod_custom_pro"
    listed = live_client.v1.products.list(params={"limit": 1})
    assert [p.id for p in listed.data] == ["prod_custom_pro"]
    assert listed.has_more is True
    rest = live_client.v1.products.list(params={"starting_after": "prod_custom_pro"})
    assert [p.id for p in rest.data] == [created.id]
    assert rest.has_more is False
    assert [p.id for p in live_client.v1.products.list(params={"active": True}).data] == [
        "prod_custom_pro"
    ]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.products.create(params={"name": "Again", "id": "prod_custom_pro"})
    assert exc.value.code == "resource_already_exists"


def test_prices_by_lookup_key(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client, amount=4500, key="basic")
    assert shop.price.id.startswith("price_")
    assert shop.price.unit_amount == 4500
    assert shop.price.lookup_key == "basic"

    found = live_client.v1.prices.list(
        params={"lookup_keys": ["basic", "missing"], "expand": ["data.product"]}
    )
    assert [p.id for p in found.data] == [shop.price.id]
    assert found.data[0].product.name == "Pro Pack"

    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.prices.create(
            params={
                "product": shop.product.id,
                "unit_amount": 5000,
                "currency": "usd",
                "lookup_key": "basic",
            }
        )
    assert "already uses that lookup key" in exc.value.user_message
    assert exc.value.param == "lookup_key"

    newer = live_client.v1.prices.create(
        params={
            "product": shop.product.id,
            "unit_amount": 5000,
            "currency": "usd",
            "lookup_key": "basic",
            "transfer_lookup_key": True,
        }
    )
    assert newer.lookup_key == "basic"
    assert live_client.v1.prices.retrieve(shop.price.id).lookup_key is None
    by_key = live_client.v1.prices.list(params={"lookup_keys": ["basic"]})
    assert [p.id for p in by_key.data] == [newer.id]

    archived = live_client.v1.prices.update(shop.price.id, params={"active": False})
    assert archived.active is False
    active = live_client.v1.prices.list(params={"product": shop.product.id, "active": True})
    assert [p.id for p in active.data] == [newer.id]
    both = live_client.v1.prices.list(params={"product": shop.product.id})
    assert [p.id for p in both.data] == [newer.id, shop.price.id]


def test_customers(live_client: stripe.StripeClient) -> None:
    customer = live_client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"user_id": "7"}}
    )
    assert customer.id.startswith("cus_")
    updated = live_client.v1.customers.update(customer.id, params={"name": "Ada L."})
    assert updated.name == "Ada L."
    assert updated.email == "ada@example.com"
    assert live_client.v1.customers.retrieve(customer.id).metadata["user_id"] == "7"


def test_session_create_retrieve_expand_expire(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    customer = live_client.v1.customers.create(params={"email": "ada@example.com"})
    expires_at = int(time.time()) + 3600
    session = make_session(
        live_client,
        shop,
        customer=customer.id,
        expires_at=expires_at,
        payment_method_types=["card"],
        line_items=[{"price": shop.price.id, "quantity": 3}],
    )
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.amount_total == 3000
    assert session.currency == "usd"
    assert session.expires_at == expires_at
    assert session.url == f"http://127.0.0.1:5000/stripe-sandbox/checkout/{session.id}"
    assert session.success_url.endswith("{CHECKOUT_SESSION_ID}")
    assert session.payment_intent is None
    assert session.metadata["purchase_id"] == "purchase_1"

    fetched = live_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items", "customer"]}
    )
    assert fetched.customer.email == "ada@example.com"
    item = fetched.line_items.data[0]
    assert (item.quantity, item.amount_total, item.price.id) == (3, 3000, shop.price.id)
    items = live_client.v1.checkout.sessions.line_items.list(session.id)
    assert [i.id for i in items.data] == [item.id]

    expired = live_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None
    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.checkout.sessions.expire(session.id)
    assert "can be expired" in exc.value.user_message


def test_paid_session_payment_intent_and_charge(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    session = make_session(live_client, shop)
    paid = pay(live_client, session.id, card="4242 4242 4242 4242")
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    fetched = live_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    pi = fetched.payment_intent
    assert pi.id.startswith("pi_")
    assert pi.status == "succeeded"
    assert pi.amount_received == 1000
    assert pi.metadata["purchase_id"] == "purchase_1"
    charge = pi.latest_charge
    assert charge.id.startswith("ch_")
    assert (charge.paid, charge.captured, charge.status) == (True, True, "succeeded")
    assert (charge.amount_refunded, charge.refunded, charge.payment_intent) == (0, False, pi.id)
    assert live_client.v1.payment_intents.retrieve(pi.id).latest_charge == charge.id
    assert live_client.v1.charges.retrieve(charge.id).amount == 1000


def test_session_list_by_created(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    first = make_session(live_client, shop)
    second = make_session(live_client, shop)
    since = live_client.v1.checkout.sessions.list(params={"created": {"gte": first.created}})
    assert [s.id for s in since.data] == [second.id, first.id]
    later = live_client.v1.checkout.sessions.list(params={"created": {"gt": second.created}})
    assert later.data == []
    opened = live_client.v1.checkout.sessions.list(params={"status": "open", "limit": 1})
    assert opened.data[0].id == second.id and opened.has_more


def test_expires_at_window(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    for offset, words in ((600, "at least 30 minutes"), (90000, "less than 24 hours")):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            make_session(live_client, shop, expires_at=int(time.time()) + offset)
        assert words in exc.value.user_message
        assert exc.value.param == "expires_at"
    default = make_session(live_client, shop)
    assert default.expires_at - default.created == 24 * 3600


def test_session_parameter_errors(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(live_client, shop, line_items=[{"price": "price_nope", "quantity": 1}])
    assert (exc.value.code, exc.value.param) == ("resource_missing", "line_items[0][price]")
    assert exc.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(live_client, shop, line_items=[{"price": shop.price.id}])
    assert (exc.value.code, exc.value.param) == ("parameter_missing", "line_items[0][quantity]")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(live_client, shop, customer_email="a@b.c", customer="cus_x")
    assert "only specify one" in exc.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as exc:
        make_session(live_client, shop, shipping_rates=["shr_1"])
    assert (exc.value.code, exc.value.param) == ("parameter_unknown", "shipping_rates")


def test_refunds_full_and_partial(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    session = make_session(live_client, shop)
    pay(live_client, session.id, card="4242424242424242")
    pi_id = live_client.v1.checkout.sessions.retrieve(session.id).payment_intent

    partial = live_client.v1.refunds.create(
        params={"payment_intent": pi_id, "amount": 300, "metadata": {"why": "goodwill"}}
    )
    assert partial.id.startswith("re_")
    assert (partial.amount, partial.status, partial.payment_intent) == (300, "succeeded", pi_id)
    charge = live_client.v1.charges.retrieve(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (300, False)

    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.refunds.create(params={"charge": charge.id, "amount": 800})
    assert exc.value.code == "amount_too_large"
    assert exc.value.http_status == 400

    rest = live_client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 700
    charge = live_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert live_client.v1.refunds.retrieve(rest.id).amount == 700
    listed = live_client.v1.refunds.list(params={"created": {"gte": partial.created}})
    assert [r.id for r in listed.data] == [rest.id, partial.id]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.refunds.create(params={"charge": charge.id})
    assert exc.value.code == "charge_already_refunded"


def test_events_listing_with_filters(live_client: stripe.StripeClient) -> None:
    shop = make_shop(live_client)
    started = int(time.time())
    paid = make_session(live_client, shop)
    pay(live_client, paid.id, card="4242424242424242")
    abandoned = make_session(live_client, shop)
    live_client.v1.checkout.sessions.expire(abandoned.id)
    live_client.v1.refunds.create(
        params={"payment_intent": live_client.v1.checkout.sessions.retrieve(paid.id).payment_intent}
    )

    everything = live_client.v1.events.list(params={"created": {"gte": started}})
    assert [e.type for e in everything.data] == [
        "charge.refunded",
        "checkout.session.expired",
        "checkout.session.completed",
    ]
    completed = everything.data[2]
    assert completed.id.startswith("evt_")
    assert completed.data.object.id == paid.id
    assert completed.api_version == stripe.api_version
    assert completed.livemode is False
    assert completed.request.idempotency_key  # the SDK sends one with every POST

    by_type = live_client.v1.events.list(params={"type": "checkout.session.expired"})
    assert [e.data.object.id for e in by_type.data] == [abandoned.id]
    wildcard = live_client.v1.events.list(params={"type": "checkout.session.*"})
    assert len(wildcard.data) == 2
    by_types = live_client.v1.events.list(
        params={"types": ["charge.refunded", "checkout.session.completed"]}
    )
    assert [e.type for e in by_types.data] == ["charge.refunded", "checkout.session.completed"]
    assert live_client.v1.events.retrieve(completed.id).type == "checkout.session.completed"
    page = live_client.v1.events.list(params={"limit": 2})
    assert page.has_more is True
    with pytest.raises(stripe.InvalidRequestError):
        live_client.v1.events.list(params={"type": "a", "types": ["b"]})


def test_error_shapes_raise_sdk_exceptions(live_url: str, live_client: stripe.StripeClient) -> None:
    no_key = stripe.StripeClient(
        api_key="sk_live_abcdefghijkl1234",
        base_addresses={"api": live_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(),
    )
    with pytest.raises(stripe.AuthenticationError) as exc:
        no_key.v1.products.list()
    assert exc.value.http_status == 401
    assert exc.value.user_message.startswith("Invalid API Key provided: sk_live_")
    assert "1234" in exc.value.user_message and "abcdefgh" not in exc.value.user_message

    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.customers.retrieve("cus_missing")
    assert (exc.value.http_status, exc.value.code) == (404, "resource_missing")
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"
    assert exc.value.request_id.startswith("req_")

    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.raw_request("get", "/v1/nothing_here")
    assert exc.value.http_status == 404
    assert "Unrecognized request URL (GET: /v1/nothing_here)" in exc.value.user_message

    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.products.create(params={"name": "X", "colour": "red"})
    assert (exc.value.code, exc.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.v1.products.create(params={})
    assert (exc.value.code, exc.value.param) == ("parameter_missing", "name")
    product = live_client.v1.products.create(params={"name": "X"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        live_client.raw_request(
            "post", "/v1/prices", currency="usd", unit_amount="ten", product=product.id
        )
    assert (exc.value.code, exc.value.param) == ("parameter_invalid_integer", "unit_amount")

    response = requests.get(f"{live_url}/v1/products", timeout=60)
    assert response.status_code == 401
    assert "did not provide an API key" in response.json()["error"]["message"]
    basic = requests.get(f"{live_url}/v1/products", auth=("sk_test_curl", ""), timeout=60)
    assert basic.status_code == 200


def test_card_decline_is_a_card_error(live_client: stripe.StripeClient) -> None:
    session = make_session(live_client, make_shop(live_client))
    with pytest.raises(stripe.CardError) as exc:
        pay(live_client, session.id, card="4000 0000 0000 0002")
    assert exc.value.http_status == 402
    assert exc.value.code == "card_declined"
    assert exc.value.user_message == "Your card was declined."
    assert exc.value.json_body["error"]["decline_code"] == "generic_decline"
    assert live_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_idempotency_replay_and_conflict(live_client: stripe.StripeClient, live_url: str) -> None:
    first = live_client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "customer-1"}
    )
    again = live_client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "customer-1"}
    )
    assert again.id == first.id
    assert len(live_client.v1.customers.list().data) == 1

    with pytest.raises(stripe.IdempotencyError) as exc:
        live_client.v1.customers.create(
            params={"email": "b@example.com"}, options={"idempotency_key": "customer-1"}
        )
    assert exc.value.http_status == 400
    assert "same parameters" in exc.value.user_message
    with pytest.raises(stripe.IdempotencyError) as exc:
        live_client.v1.products.create(
            params={"name": "X"}, options={"idempotency_key": "customer-1"}
        )
    assert "same endpoint" in exc.value.user_message

    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "customer-1"}
    replay = requests.post(
        f"{live_url}/v1/customers", data={"email": "a@example.com"}, headers=headers, timeout=60
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.id


def test_idempotency_does_not_save_validation_errors(live_client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "product-1"}
    with pytest.raises(stripe.InvalidRequestError):
        live_client.v1.products.create(params={}, options=options)
    product = live_client.v1.products.create(params={"name": "Fixed"}, options=options)
    assert product.name == "Fixed"


def test_declined_payment_is_replayed_not_retried(live_client: stripe.StripeClient) -> None:
    session = make_session(live_client, make_shop(live_client))
    path = f"/v1/test_helpers/checkout/sessions/{session.id}/pay"
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            helper(live_client, path, card="4000000000000002", idempotency_key="pay-1")
    charges = live_client.v1.charges.list()
    assert len(charges.data) == 1
    assert charges.data[0].status == "failed"


def test_expand_accepts_both_bracket_forms(live_client: stripe.StripeClient, live_url: str) -> None:
    session = make_session(live_client, make_shop(live_client))
    auth = {"Authorization": "Bearer sk_test_x"}
    for query in ("expand[]=line_items", "expand[0]=line_items"):
        url = f"{live_url}/v1/checkout/sessions/{session.id}?{query}"
        body = requests.get(url, headers=auth, timeout=60).json()
        assert body["line_items"]["object"] == "list", query
    posted = requests.post(
        f"{live_url}/v1/customers",
        data={"email": "x@example.com", "metadata[user_id]": "9", "expand[]": "test_clock"},
        headers=auth,
        timeout=60,
    ).json()
    assert posted["metadata"] == {"user_id": "9"}
    bad_url = f"{live_url}/v1/customers/{posted['id']}?expand[]=nope"
    bad = requests.get(bad_url, headers=auth, timeout=60)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "This property cannot be expanded (nope)."


def test_auto_pagination(live_client: stripe.StripeClient) -> None:
    created = [
        live_client.v1.customers.create(params={"email": f"{i}@example.com"}).id for i in range(5)
    ]
    paged = live_client.v1.customers.list(params={"limit": 2}).auto_paging_iter()
    assert [c.id for c in paged] == list(reversed(created))
    before = live_client.v1.customers.list(params={"ending_before": created[1], "limit": 2})
    assert [c.id for c in before.data] == [created[3], created[2]]
