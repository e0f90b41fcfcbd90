"""The references for `fulfil`, `replay` and `poll`: minimal hand-written SQLAlchemy Core
handlers for the same jobs.

The webhook does only what crediting a paid Checkout Session cannot do without, in one
transaction: verify the signature, record the event id once, complete the pending purchase
with a guarded UPDATE (amount and currency must match), and post the grant as a balanced
ledger transaction (two entries, two cached balances). No ORM, no audit trail, no receipt, no
mismatch review, no event types but the one.

The redelivery handler (`replay`, at its own path) checks the signature and reads the event
id with one autocommit SELECT: a delivered event is answered "duplicate" and nothing else
runs (an event it has not seen is refused with 409; the phase only sends delivered ones).

The status poll reads the buyer's id from the signed Flask session cookie (the one the app's
log-in sets), reads the purchase and the balance in one autocommit SELECT that only matches
the buyer's own purchase, and renders a small fragment of the same facts. No user load, no
rate limiter, no CSRF or security-header hooks, no Stripe refresh of open purchases.

Served by the same gunicorn configuration on its own copy of the same database, so each
phase can be read against what the stack allows for its job: `from_environment()` builds it from
DATABASE_URL, STRIPE_WEBHOOK_SECRET and SECRET_KEY, as the app's own servers get them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import stripe
from flask import Blueprint, Flask, abort, current_app, jsonify, request, session
from jinja2 import Environment
from sqlalchemy import Engine, create_engine, text

from app.domain.formats import money

from .events import REDELIVERY_PATH, WEBHOOK_PATH

SALES_SHARDS = 8  # as the app's ledger: concurrent grants do not all wait for one row

RECORD = text(
    "INSERT INTO stripe_events (event_id, type, livemode, object_id, received_at, outcome)"
    " VALUES (:event_id, :type, false, :session_id, now(), 'credited')"
    " ON CONFLICT (event_id) DO NOTHING RETURNING id"
)
COMPLETE = text(
    "UPDATE purchases SET status = 'completed', completed_at = now(), updated_at = now(),"
    " stripe_payment_intent_id = :payment_intent"
    " WHERE stripe_checkout_session_id = :session_id AND status = 'pending'"
    " AND amount_cents = :amount AND currency = :currency"
    " RETURNING id, user_id, credits"
)
TRANSACTION = text(
    "INSERT INTO ledger_transactions"
    " (idempotency_key, kind, fingerprint, purchase_id, description, actor, created_at)"
    " VALUES (:key, 'grant', :fingerprint, :purchase_id, '', 'stripe', now()) RETURNING id"
)
MOVE = text(
    "UPDATE ledger_accounts SET balance = balance + :amount WHERE code = :code"
    " RETURNING id, balance"
)
ENTRY = text(
    "INSERT INTO ledger_entries (transaction_id, account_id, amount, balance_after, created_at)"
    " VALUES (:transaction_id, :account_id, :amount, :balance_after, now())"
)

DELIVERED = text("SELECT 1 FROM stripe_events WHERE event_id = :event_id")
STATUS = text(
    "SELECT p.status, p.package_name, p.credits, p.amount_cents, p.currency, a.balance"
    " FROM purchases p LEFT JOIN ledger_accounts a ON a.user_id = p.user_id"
    " WHERE p.public_id = :public_id AND p.user_id = :user_id"
)
TEMPLATES = Environment(autoescape=True)
TEMPLATES.filters["money"] = money
FRAGMENT = TEMPLATES.from_string(
    """<section id="purchase-status" class="status-card status-{{ p.status }}">
  {% if p.status == "completed" %}
  <h2>Completed: {{ p.credits }} credits added</h2>
  <p>Your payment of {{ p.amount_cents | money(p.currency) }} went through and your balance
  is now {{ p.balance or 0 }} credits.</p>
  {% else %}<h2>{{ p.status }}</h2>{% endif %}
  <dl class="facts">
    <div><dt>Pack</dt><dd>{{ p.package_name }}</dd></div>
    <div><dt>Credits</dt><dd>{{ p.credits }}</dd></div>
  </dl>
</section>
<span id="header-balance" hx-swap-oob="true">{{ p.balance or 0 }} credits</span>"""
)
SHARDS = text(
    "INSERT INTO ledger_accounts (code, balance, created_at) VALUES (:code, 0, now())"
    " ON CONFLICT (code) DO NOTHING"
)

handlers = Blueprint("reference", __name__)


@dataclass(frozen=True)
class Reference:
    """What the handlers share: the engine, its autocommit variant and the webhook secret."""

    engine: Engine
    reads: Engine
    secret: str


def create_reference_app(database_url: str, webhook_secret: str, secret_key: str) -> Flask:
    """The reference handlers on one database; the sales shards are made if missing."""
    engine = create_engine(database_url, pool_size=8)
    with engine.begin() as connection:
        connection.execute(
            SHARDS, [{"code": f"system:stripe_sales:{n}"} for n in range(SALES_SHARDS)]
        )
    app = Flask(__name__)
    app.secret_key = secret_key
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    app.extensions["reference"] = Reference(engine, reads, webhook_secret)
    app.register_blueprint(handlers)
    return app


def from_environment() -> Flask:
    """The reference app as gunicorn serves it (`benchmarks.reference_app:from_environment()`)."""
    return create_reference_app(
        os.environ["DATABASE_URL"], os.environ["STRIPE_WEBHOOK_SECRET"], os.environ["SECRET_KEY"]
    )


def reference_engine(app: Flask) -> Engine:
    return app.extensions["reference"].engine


def shared() -> Reference:
    return current_app.extensions["reference"]


@handlers.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def verified_event() -> dict:
    payload = request.get_data(as_text=True)
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature", ""), shared().secret, 300
        )
    except stripe.SignatureVerificationError:
        abort(400)
    return json.loads(payload)


@handlers.post(REDELIVERY_PATH)
def redelivery():
    event = verified_event()
    with shared().reads.connect() as connection:
        delivered = connection.execute(DELIVERED, {"event_id": event["id"]}).first()
    if delivered is None:
        return jsonify({"error": "not delivered before"}), 409
    return jsonify({"received": True, "outcome": "duplicate"})


def post_grant(connection, purchase_id: int, user_id: int, credits: int) -> None:
    """The grant as a balanced ledger transaction: two entries, two cached balances."""
    user, sales = f"user:{user_id}", f"system:stripe_sales:{purchase_id % SALES_SHARDS}"
    body = f"grant;{sales}={-credits};{user}={credits}"
    transaction_id = connection.execute(
        TRANSACTION,
        {
            "key": f"purchase:{purchase_id}:grant",
            "fingerprint": hashlib.sha256(body.encode()).hexdigest(),
            "purchase_id": purchase_id,
        },
    ).scalar()
    entries = []
    for code, amount in ((user, credits), (sales, -credits)):
        account_id, balance_after = connection.execute(
            MOVE, {"amount": amount, "code": code}
        ).first()
        entries.append(
            {
                "transaction_id": transaction_id,
                "account_id": account_id,
                "amount": amount,
                "balance_after": balance_after,
            }
        )
    connection.execute(ENTRY, entries)


@handlers.post(WEBHOOK_PATH)
def webhook():
    event = verified_event()
    session = event["data"]["object"]
    with shared().engine.begin() as connection:
        recorded = connection.execute(
            RECORD, {"event_id": event["id"], "type": event["type"], "session_id": session["id"]}
        ).first()
        if recorded is None:
            return jsonify({"received": True, "outcome": "duplicate"})
        purchase = connection.execute(
            COMPLETE,
            {
                "session_id": session["id"],
                "payment_intent": session["payment_intent"],
                "amount": session["amount_total"],
                "currency": session["currency"],
            },
        ).first()
        if purchase is None:
            return jsonify({"received": True, "outcome": "no_change"})
        post_grant(connection, *purchase)
    return jsonify({"received": True, "outcome": "credited"})


@handlers.get("/credits/purchase/<public_id>/status")
def status(public_id: str):
    user_id = session.get("_user_id")
    if user_id is None:
        abort(401)
    with shared().reads.connect() as connection:
        row = connection.execute(STATUS, {"public_id": public_id, "user_id": int(user_id)}).first()
    if row is None:
        abort(404)
    return FRAGMENT.render(p=row)
