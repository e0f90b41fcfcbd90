"""The reference for `fulfil`: a minimal hand-written SQLAlchemy Core webhook handler.

It does only what crediting a paid Checkout Session cannot do without, in one transaction:
verify the signature, record the event id once, complete the pending purchase with a guarded
UPDATE (amount and currency must match), and post the grant as a balanced ledger transaction
(two entries, two cached balances). No ORM, no audit trail, no receipt, no mismatch review,
no event types but the one. Served by the same gunicorn configuration on its own copy of the
same database, so `fulfil` can be read against what the stack allows for this job.
"""

from __future__ import annotations

import hashlib
import json
import os

import stripe
from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

SALES_SHARDS = 8  # as the app's ledger: concurrent grants do not all wait for one row

engine = create_engine(os.environ["DATABASE_URL"], pool_size=8)
secret = os.environ["STRIPE_WEBHOOK_SECRET"]
app = Flask(__name__)

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

with engine.begin() as connection:
    connection.execute(
        text(
            "INSERT INTO ledger_accounts (code, balance, created_at) VALUES (:code, 0, now())"
            " ON CONFLICT (code) DO NOTHING"
        ),
        [{"code": f"system:stripe_sales:{n}"} for n in range(SALES_SHARDS)],
    )


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@app.post("/api/v1/billing/credits/webhook")
def webhook():
    payload = request.get_data(as_text=True)
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature", ""), secret, 300
        )
    except stripe.SignatureVerificationError:
        return jsonify({"error": "bad signature"}), 400
    event = json.loads(payload)
    session = event["data"]["object"]
    with engine.begin() as connection:
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
        purchase_id, user_id, credits = purchase
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
    return jsonify({"received": True, "outcome": "credited"})
