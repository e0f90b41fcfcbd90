"""The transaction-scoped context every sandbox operation runs in."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from . import objects
from .config import Settings
from .errors import Missing, NotFound
from .store import Tx


@dataclass
class Ctx:
    """One transaction plus who asked: request id and idempotency key go into events."""

    tx: Tx
    settings: Settings
    public_url: str = ""
    request_id: str | None = None
    idempotency_key: str | None = None
    emitted: int = 0

    def now(self) -> int:
        """Return real time: `created` fields and signatures use it."""
        return int(time.time())

    def clock(self) -> float:
        """Return sandbox time (real time plus the advanced offset): expiry and settlement."""
        return time.time() + self.tx.clock_offset()

    def load(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        """Return a stored object of `kind` (its `object` value) or raise Stripe's 404."""
        obj = self.tx.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != kind:
            raise NotFound(kind, object_id, param)
        return obj

    def ref(self, kind: str, object_id: str, param: str) -> dict[str, Any]:
        """Return an object named in a parameter, or raise Stripe's 400 resource_missing."""
        obj = self.tx.get(object_id)
        if obj is None or obj["object"] != kind:
            raise Missing(kind, object_id, param)
        return obj

    def emit(self, type_: str, obj: dict[str, Any], previous: dict | None = None) -> dict:
        """Record an event now and queue its deliveries (sent after the delay)."""
        url = self.settings.webhook_url
        event = objects.event(
            self.now(),
            type_,
            objects.public(copy.deepcopy(obj)),
            previous,
            self.request_id,
            self.idempotency_key,
            pending_webhooks=1 if url else 0,
        )
        self.tx.put(event)
        if url:
            due = time.time() + self.settings.delivery_delay
            for _ in range(self.settings.chaos_duplicates):
                self.tx.add_delivery(event["id"], url, due)
        self.emitted += 1
        return event
