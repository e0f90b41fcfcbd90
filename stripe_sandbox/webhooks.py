"""Signing and sending webhook deliveries, with bounded retries and backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from . import objects
from .config import Settings, Transport
from .store import Delivery, Store

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
MAX_BACKOFF = 3600.0


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return a `Stripe-Signature` header: `t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<payload>")`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def http_transport(timeout: float) -> Transport:
    """Return a transport that POSTs with urllib, ignoring proxy settings."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        """POST one delivery and return the HTTP status."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL must be http(s): {url}")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.read()
            error.close()
            return int(error.code)

    return send


class Deliverer:
    """Makes one attempt at a claimed delivery and records the outcome."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.transport = settings.webhook_transport or http_transport(settings.delivery_timeout)

    def attempt(self, delivery: Delivery) -> bool:
        """POST the signed event once; reschedule with backoff or give up after max attempts."""
        with self.store.read() as tx:
            event = tx.get(delivery.event_id)
        status: int | None = None
        error: str | None = None
        if event is None:
            error = "event not found"
        elif self.settings.chaos_fail_first and delivery.attempts == 0:
            error = "simulated failure (CHAOS_FAIL_FIRST)"
        else:
            body = json.dumps(objects.public(event), indent=2).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Cache-Control": "no-cache",
                "Accept": "*/*; q=0.5, application/xml",
                "Stripe-Signature": sign(body, self.settings.signing_secret, int(time.time())),
            }
            try:
                status = self.transport(delivery.url, headers, body)
            except Exception as exc:  # any transport failure is a failed attempt, retried later
                error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        attempts = delivery.attempts + 1
        if ok:
            state = "succeeded"
        elif attempts >= self.settings.delivery_max_attempts or event is None:
            state = "failed"
        else:
            state = "pending"
        delay = min(self.settings.delivery_backoff * 2 ** (attempts - 1), MAX_BACKOFF)
        if not ok:
            log.info(
                "delivery %s of %s failed: %s", delivery.id, delivery.event_id, error or status
            )
        with self.store.write() as tx:
            tx.finish_delivery(
                delivery.id,
                status=state,
                attempts=attempts,
                next_attempt_at=time.time() + delay,
                last_status=status,
                last_error=error,
            )
        return ok
