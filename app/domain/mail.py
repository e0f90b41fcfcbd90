"""Emails through an outbox: written with the change they report, sent after commit.

A message is inserted in the same transaction as the fulfilment (or take-back), once
per dedupe key, so a purchase gets exactly one receipt however often its webhook
arrives. Sending happens after commit on a background thread (never on the request
path) and is retried by `flask outbox deliver`.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import Flask, current_app
from sqlalchemy import Row, event, select, update
from sqlalchemy.orm import Session

from app.db import dialect_name, insert_ignoring, run, write_transaction
from app.domain.formats import credits, money
from app.extensions import db
from app.models import OutboxMessage, Purchase, utcnow

log = logging.getLogger(__name__)
BATCH = 10  # messages per claim: at most this many are sent again if a sender dies mid-batch
LEASE = timedelta(minutes=5)
LEASE_MARGIN = timedelta(minutes=1)  # more than one SMTP exchange can take (10 s timeouts)
MAX_BACKOFF = timedelta(hours=1)


@functools.cache
def _insert_message(dialect: str):
    return insert_ignoring(OutboxMessage.__table__, "dedupe_key", dialect=dialect)


def enqueue(dedupe_key: str, kind: str, to_email: str, subject: str, body: str) -> None:
    """Add a message to the outbox in the current transaction, once per dedupe key."""
    now = utcnow()
    run(
        _insert_message(dialect_name()),
        {
            "dedupe_key": dedupe_key,
            "kind": kind,
            "to_email": to_email,
            "subject": subject,
            "body": body,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
    )
    db.session.info["outbox_pending"] = True


def _history_url() -> str:
    return current_app.config["APP_BASE_URL"] + "/credits/history"


def enqueue_receipt(purchase: Purchase, balance: int) -> None:
    """Queue the one receipt of a completed purchase."""
    amount = money(purchase.amount_cents, purchase.currency)
    enqueue(
        f"receipt:{purchase.public_id}",
        "receipt",
        purchase.user.email,
        f"Receipt: {credits(purchase.credits)} credits ({purchase.package_name})",
        "\n".join(
            [
                "Thank you for your purchase.",
                "",
                f"Pack:        {purchase.package_name}",
                f"Credits:     {credits(purchase.credits)}",
                f"Amount paid: {amount}",
                f"New balance: {credits(balance)} credits",
                f"Purchase:    {purchase.public_id}",
                "",
                f"Your purchase history: {_history_url()}",
            ]
        ),
    )


def enqueue_notice(purchase: Purchase, key: str, headline: str, detail: str) -> None:
    """Queue a short notice about a refund or dispute outcome."""
    enqueue(
        f"notice:{purchase.public_id}:{key}",
        "notice",
        purchase.user.email,
        headline,
        f"{detail}\n\nPack: {purchase.package_name} ({purchase.public_id})\n"
        f"Your purchase history: {_history_url()}",
    )


def send_email(message: Row) -> None:
    """Send one claimed message (its dedupe_key, to_email, subject and body) over SMTP, or
    log it when no MAIL_SERVER is configured."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        if config["APP_ENV"] == "production":
            raise RuntimeError("MAIL_SERVER is not set")
        log.info("email to %s: %s\n%s", message.to_email, message.subject, message.body)
        return
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email["Message-ID"] = f"<{message.dedupe_key.replace(':', '.')}@credits>"
    email.set_content(message.body)
    with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(email)


def _claim(limit: int) -> tuple[datetime, list[Row]]:
    """Lease up to `limit` due messages in one statement, so only one sender attempts each;
    return the lease's end and the messages.

    Rows another sender is claiming right now are skipped (PostgreSQL), and the lease
    conditions stand in the outer WHERE too: a claimer that waited on a row lock re-checks
    them and leaves what the other one took.
    """
    now = utcnow()
    until = now + LEASE
    messages = OutboxMessage.__table__
    leasable = messages.c.sent_at.is_(None) & (
        messages.c.locked_until.is_(None) | (messages.c.locked_until < now)
    )
    due = (
        select(messages.c.id)
        .where(leasable, messages.c.next_attempt_at <= now)
        .order_by(messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with write_transaction():
        rows = run(
            update(messages)
            .where(messages.c.id.in_(due), leasable)
            .values(locked_until=until, attempts=messages.c.attempts + 1)
            .returning(
                messages.c.id,
                messages.c.dedupe_key,
                messages.c.to_email,
                messages.c.subject,
                messages.c.body,
                messages.c.attempts,
            )
        )
        return until, list(rows)


def _finish(
    until: datetime, sent: list[int], failures: list[tuple[Row, Exception]], unsent: list[int]
) -> None:
    """Record a batch: sent; failed and due again after a growing backoff; or not tried
    (the lease was running out). Only rows still under this sender's lease are changed."""
    messages = OutboxMessage.__table__
    ours = messages.c.locked_until == until
    now = utcnow()
    with write_transaction():
        if sent:
            run(
                update(messages)
                .where(messages.c.id.in_(sent), ours)
                .values(sent_at=now, locked_until=None)
            )
        if unsent:
            run(
                update(messages)
                .where(messages.c.id.in_(unsent), ours)
                .values(locked_until=None, attempts=messages.c.attempts - 1)
            )
        for message, error in failures:
            backoff = min(timedelta(seconds=30) * 2 ** (message.attempts - 1), MAX_BACKOFF)
            run(
                update(messages)
                .where(messages.c.id == message.id, ours)
                .values(
                    locked_until=None,
                    last_error=f"{type(error).__name__}: {error}"[:1000],
                    next_attempt_at=now + backoff,
                )
            )
    for message, error in failures:
        log.warning("email %s failed (attempt %d): %s", message.dedupe_key, message.attempts, error)


def deliver_pending(limit: int = BATCH) -> tuple[int, int]:
    """Send due messages, a small batch at a time, until none is due; return (sent, failed).

    Failures are retried later with backoff. A batch stops sending once less than
    LEASE_MARGIN of its lease is left, so no message is sent after another sender may have
    leased it; a sender that dies mid-batch leaves at most one batch to be sent again.
    """
    total_sent = total_failed = 0
    while True:
        until, batch = _claim(limit)
        if not batch:
            return total_sent, total_failed
        sent, failures, unsent = [], [], []
        for message in batch:
            if utcnow() >= until - LEASE_MARGIN:
                unsent.append(message.id)
                continue
            try:
                send_email(message)
            except Exception as exc:  # noqa: BLE001 - any mail failure is retried later
                failures.append((message, exc))
            else:
                sent.append(message.id)
        _finish(until, sent, failures, unsent)
        total_sent, total_failed = total_sent + len(sent), total_failed + len(failures)


_running = threading.Lock()


def kick(app: Flask) -> threading.Thread | None:
    """Send pending mail on a background thread; at most one such thread per process.

    The thread waits MAIL_BATCH_SECONDS before each round, so that under load one claim
    gathers everything committed meanwhile, and stops after a round that found nothing.
    """
    if not app.config.get("MAIL_BACKGROUND", True) or not _running.acquire(blocking=False):
        return None
    wait = float(app.config.get("MAIL_BATCH_SECONDS", 0.5))

    def run() -> None:
        try:
            with app.app_context():
                while True:
                    time.sleep(wait)
                    if deliver_pending() == (0, 0):
                        break
                db.session.remove()
        except Exception:  # noqa: BLE001 - `flask outbox deliver` retries what is left
            log.exception("background email delivery failed")
        finally:
            _running.release()

    thread = threading.Thread(target=run, name="outbox-delivery", daemon=True)
    thread.start()
    return thread


def wait_for_background(timeout: float = 30.0) -> None:
    """Block until this process's background delivery, if one is running, has finished."""
    if _running.acquire(timeout=timeout):
        _running.release()


def _after_commit(session: Session) -> None:
    if session.info.pop("outbox_pending", False):
        kick(current_app._get_current_object())


def _after_rollback(session: Session) -> None:
    session.info.pop("outbox_pending", None)


def init_app(app: Flask) -> None:
    """Send queued mail after each commit that wrote some, in the background (once per
    process: the hooks go on the Flask-SQLAlchemy session class every app shares)."""
    session_class = db.session.session_factory.class_
    for name, hook in (("after_commit", _after_commit), ("after_rollback", _after_rollback)):
        if not event.contains(session_class, name, hook):
            event.listen(session_class, name, hook)
