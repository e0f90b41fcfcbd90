"""Whatever a client sends, the answer is 2xx or 4xx, and a 4xx leaves the ledger as it was.

Hypothesis builds JSON bodies and form fields from text with control characters, huge and
negative numbers, wrong types and missing or extra fields, for every body the app reads."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import ledger
from app.domain import users
from app.extensions import db
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction, Purchase
from tests.helpers.builders import make_purchase, make_user, sync_packs
from tests.helpers.logins import Auth
from tests.helpers.stripe_events import deliver, event_for, session_object

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, 1, -1, 10**9, 10**9 + 1, 2**63, 99_999_999, 100_000_000]),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(["pro", "starter", "", " ", "\x00", "\n", "１", "pro\x00"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)


def bodies(*fields: str):
    """JSON bodies: objects with any of the fields (and maybe another), or not an object."""
    keys = st.sampled_from([*fields, "other"])
    objects = st.dictionaries(keys, values, max_size=len(fields) + 1)
    return st.one_of(objects, values)


def forms(*fields: str):
    keys = st.sampled_from([*fields, "other"])
    return st.dictionaries(keys, st.one_of(text, st.integers().map(str)), max_size=len(fields) + 1)


def ledger_state() -> tuple:
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(LedgerTransaction)),
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        tuple(db.session.execute(select(LedgerAccount.code, LedgerAccount.balance)).all()),
        db.session.scalar(select(func.count()).select_from(Purchase)),
    )


def paid_purchase(app, fake) -> str:
    """Write a purchase of Pro paid through the webhook; return its public id."""
    with app.app_context():
        purchase = make_purchase(make_user(f"buyer-{fake.new_id('u')}@example.com"))
        intent = fake.add_charge(purchase.amount_cents)
        session = session_object(purchase, payment_intent=intent)
        deliver(app.test_client(), event_for(session, "checkout.session.completed"))
        return purchase.public_id


@pytest.fixture
def world(app, stripe_fake):
    """A buyer with credits and a paid purchase, an admin, their tokens, and the packs on the
    (faked) Stripe."""
    with app.app_context():
        sync_packs()
        buyer = make_user()
        ledger.adjust(buyer, 500, "starting balance", actor="test")
        admin = make_user("admin@example.com", admin=True)
        return {
            "buyer": {"Authorization": f"Bearer {users.issue_token(buyer)}"},
            "admin": {"Authorization": f"Bearer {users.issue_token(admin)}"},
            "purchase": paid_purchase(app, stripe_fake),
            "user_id": buyer.id,
        }


def check(app, response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]


def send_json(app, method: str, url: str, body, headers: dict) -> None:
    with app.app_context():
        before = ledger_state()
    response = app.test_client().open(
        url,
        method=method,
        data=json.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )
    check(app, response)
    if response.status_code >= 400:
        with app.app_context():
            assert ledger_state() == before, (url, body, response.status_code)


API = "/api/v1/billing/credits"


@FUZZ
@given(body=bodies("amount", "idempotency_key", "description"))
def test_spend_bodies(app, world, body):
    send_json(app, "POST", f"{API}/spend", body, world["buyer"])


@FUZZ
@given(body=bodies("package_code"))
def test_purchase_bodies(app, world, body):
    send_json(app, "POST", f"{API}/purchase", body, world["buyer"])


@FUZZ
@given(body=bodies("amount_cents", "idempotency_key"))
def test_admin_refund_bodies(app, world, stripe_fake, body):
    # A purchase of its own each time, so every example meets the same state.
    url = f"/api/v1/admin/billing/credits/purchases/{paid_purchase(app, stripe_fake)}/refund"
    send_json(app, "POST", url, body, world["admin"])


@FUZZ
@given(body=bodies("action", "note"))
def test_admin_resolve_bodies(app, world, stripe_fake, body):
    url = f"/api/v1/admin/billing/credits/purchases/{paid_purchase(app, stripe_fake)}/resolve"
    send_json(app, "POST", url, body, world["admin"])


@FUZZ
@given(
    ident=text,
    query=st.dictionaries(
        st.sampled_from(
            ["limit", "cursor", "status", "email", "created_from", "created_to", "seen"]
        ),
        text,
        max_size=3,
    ),
)
def test_path_ids_and_query_parameters(app, world, ident, query):
    qs = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    for url, who in (
        (f"{API}/purchases/{quote(ident, safe='')}", "buyer"),
        (f"{API}/purchases?{qs}", "buyer"),
        (f"{API}/transactions?{qs}", "buyer"),
        (f"/api/v1/admin/billing/credits/purchases?{qs}", "admin"),
        (f"/api/v1/admin/billing/credits/purchases/{quote(ident, safe='')}", "admin"),
    ):
        check(app, app.test_client().get(url, headers=world[who]))


def send_form(app, client, url: str, fields: dict) -> None:
    with app.app_context():
        before = ledger_state()
    response = client.post(url, data={**fields, "csrf_token": Auth(client).csrf()})
    check(app, response)
    if response.status_code >= 400:
        with app.app_context():
            assert ledger_state() == before, (url, fields, response.status_code)


@FUZZ
@given(fields=forms("email", "password", "confirm"))
def test_log_in_and_register_forms(app, world, fields):
    client = app.test_client()
    send_form(app, client, "/login", fields)
    send_form(app, client, "/register", fields)


@FUZZ
@given(fields=forms("package_code"), ident=text)
def test_buyer_forms(app, world, fields, ident):
    client = app.test_client()
    Auth(client).login()
    send_form(app, client, "/credits/purchase", fields)
    send_form(app, client, f"/credits/purchase/{quote(ident, safe='')}/cancel", fields)


@FUZZ
@given(fields=forms("amount", "reason", "idempotency_key", "confirm", "action", "note", "name"))
def test_admin_forms(app, world, stripe_fake, fields):
    client = app.test_client()
    Auth(client).login("admin@example.com")
    purchase, user_id = paid_purchase(app, stripe_fake), world["user_id"]
    for url in (
        f"/admin/credits/purchases/{purchase}/refund",
        f"/admin/credits/purchases/{purchase}/resolve",
        f"/admin/users/{user_id}/grant",
        f"/admin/users/{user_id}/tokens",
    ):
        send_form(app, client, url, fields)
