"""Sandbox settings read from the app config mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "2026-10-28.endive"

Transport = Callable[[str, dict[str, str], bytes], int]

DEFAULTS: dict[str, Any] = {
    "STATE_PATH": None,
    "PUBLIC_URL": None,
    "WEBHOOK_URL": None,
    "WEBHOOK_SECRET": "whsec_sandbox",
    "DELIVERY_DELAY": 1.0,
    "DELIVERY_MAX_ATTEMPTS": 8,
    "DELIVERY_BACKOFF": 1.0,
    "DELIVERY_TIMEOUT": 10.0,
    "CHAOS_DUPLICATES": 1,
    "CHAOS_SHUFFLE": False,
    "CHAOS_FAIL_FIRST": False,
    "WEBHOOK_TRANSPORT": None,
    "START_WORKER": True,
    "MERCHANT_NAME": "Credits",
    "BANK_TRANSFER_SETTLE_SECONDS": 10.0,
}


@dataclass(frozen=True)
class Settings:
    """Typed view of the sandbox's config keys."""

    state_path: str | None
    public_url: str | None
    webhook_url: str | None
    webhook_secret: str
    delivery_delay: float
    delivery_max_attempts: int
    delivery_backoff: float
    delivery_timeout: float
    chaos_duplicates: int
    chaos_shuffle: bool
    chaos_fail_first: bool
    webhook_transport: Transport | None
    start_worker: bool
    merchant_name: str
    bank_transfer_settle_seconds: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Build settings from upper-case config keys, falling back to DEFAULTS."""
        merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
        public_url = merged["PUBLIC_URL"]
        return cls(
            state_path=merged["STATE_PATH"],
            public_url=public_url.rstrip("/") if public_url else None,
            webhook_url=merged["WEBHOOK_URL"] or None,
            webhook_secret=merged["WEBHOOK_SECRET"] or DEFAULTS["WEBHOOK_SECRET"],
            delivery_delay=float(merged["DELIVERY_DELAY"]),
            delivery_max_attempts=max(1, int(merged["DELIVERY_MAX_ATTEMPTS"])),
            delivery_backoff=float(merged["DELIVERY_BACKOFF"]),
            delivery_timeout=float(merged["DELIVERY_TIMEOUT"]),
            chaos_duplicates=max(1, int(merged["CHAOS_DUPLICATES"])),
            chaos_shuffle=bool(merged["CHAOS_SHUFFLE"]),
            chaos_fail_first=bool(merged["CHAOS_FAIL_FIRST"]),
            webhook_transport=merged["WEBHOOK_TRANSPORT"],
            start_worker=bool(merged["START_WORKER"]),
            merchant_name=str(merged["MERCHANT_NAME"]),
            bank_transfer_settle_seconds=float(merged["BANK_TRANSFER_SETTLE_SECONDS"]),
        )

    @property
    def signing_secret(self) -> str:
        """Return the secret deliveries are signed with: the first of a comma-separated list."""
        return self.webhook_secret.split(",")[0].strip()
