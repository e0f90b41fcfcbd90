"""What the buy page shows about each pack on sale."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.packs import active_packages
from app.models import CreditPackage


@dataclass(frozen=True)
class Offer:
    package: CreditPackage
    per_100_cents: int


def per_100_credits(price_cents: int, credits: int) -> int:
    """Return the price of 100 credits in minor units, rounded half up (integers only)."""
    return (price_cents * 200 + credits) // (2 * credits)


def offers() -> list[Offer]:
    """Return the active packs in display order with their price per 100 credits."""
    return [Offer(p, per_100_credits(p.price_cents, p.credits)) for p in active_packages()]
