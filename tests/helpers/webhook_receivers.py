"""Ends that webhooks are delivered to: an in-process transport and a WSGI endpoint."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recorder:
    """A WEBHOOK_TRANSPORT that keeps every delivery and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.calls.append((url, headers, body))
        return self.statuses.pop(0) if self.statuses else 200

    @property
    def events(self) -> list[dict[str, Any]]:
        """Return the delivered event bodies in arrival order."""
        return [json.loads(body) for _, _, body in self.calls]

    @property
    def types(self) -> list[str]:
        """Return the delivered event types in arrival order."""
        return [event["type"] for event in self.events]


class Receiver:
    """A WSGI webhook endpoint that records bodies and answers with scripted statuses."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            k[5:].replace("_", "-").title(): v for k, v in environ.items() if k[:5] == "HTTP_"
        }
        with self.lock:
            self.received.append((headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        start_response(f"{status} Status", [("Content-Type", "text/plain")])
        return [b"ok"]
