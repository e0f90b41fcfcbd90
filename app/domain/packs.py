"""The credit pack catalogue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.db import write_transaction
from app.domain import audit
from app.errors import UnknownPackage
from app.extensions import db
from app.models import CreditPackage

DEFAULT_PACKAGES: tuple[dict[str, Any], ...] = (
    {
        "code": "starter",
        "name": "Starter Pack",
        "credits": 100,
        "price_cents": 1000,
        "discount_percent": 0,
        "badge": None,
        "description": "A first taste: enough for small jobs.",
    },
    {
        "code": "basic",
        "name": "Basic Pack",
        "credits": 500,
        "price_cents": 4500,
        "discount_percent": 10,
        "badge": None,
        "description": "For regular light use.",
    },
    {
        "code": "pro",
        "name": "Pro Pack",
        "credits": 1000,
        "price_cents": 8500,
        "discount_percent": 15,
        "badge": "Popular",
        "description": "The favourite of teams that use credits every day.",
    },
    {
        "code": "premium",
        "name": "Premium Pack",
        "credits": 2500,
        "price_cents": 20000,
        "discount_percent": 20,
        "badge": None,
        "description": "For heavy workloads.",
    },
    {
        "code": "enterprise",
        "name": "Enterprise Pack",
        "credits": 10000,
        "price_cents": 75000,
        "discount_percent": 25,
        "badge": "Best value",
        "description": "The lowest price per credit, for large volumes.",
    },
)
SEEDED_FIELDS = ("name", "credits", "price_cents", "discount_percent", "badge", "description")


def active_packages() -> list[CreditPackage]:
    """Return the packs on sale, in display order."""
    return list(
        db.session.scalars(
            select(CreditPackage)
            .where(CreditPackage.is_active.is_(True))
            .order_by(CreditPackage.display_order, CreditPackage.id)
        )
    )


def get_active_package(code: object) -> CreditPackage:
    """Return the active pack with this code or raise UnknownPackage."""
    package = None
    if isinstance(code, str):
        package = db.session.scalar(
            select(CreditPackage).where(
                CreditPackage.code == code.strip().lower(), CreditPackage.is_active.is_(True)
            )
        )
    if package is None:
        raise UnknownPackage(f"no credit pack {code!r} is on sale")
    return package


def seed_packages(actor: str = "cli") -> list[tuple[str, str]]:
    """Create or update the five standard packs; return (code, created|updated|unchanged)."""
    results: list[tuple[str, str]] = []
    with write_transaction() as session:
        for order, spec in enumerate(DEFAULT_PACKAGES, start=1):
            package = session.scalar(
                select(CreditPackage).where(CreditPackage.code == spec["code"])
            )
            wanted = {
                **{k: spec[k] for k in SEEDED_FIELDS},
                "display_order": order,
                "currency": "usd",
            }
            if package is None:
                package = CreditPackage(code=spec["code"], is_active=True, **wanted)
                session.add(package)
                audit.record(actor, "package.created", "package", spec["code"], after=wanted)
                results.append((spec["code"], "created"))
                continue
            before = {k: getattr(package, k) for k in wanted}
            changed = {k: v for k, v in wanted.items() if before[k] != v}
            if changed or not package.is_active:
                for key, value in wanted.items():
                    setattr(package, key, value)
                if {"price_cents", "currency"} & changed.keys():
                    # The stored Stripe Price charges the old amount; sync-stripe makes a new one.
                    package.stripe_price_id = None
                package.is_active = True
                audit.record(
                    actor, "package.updated", "package", spec["code"], before=before, after=wanted
                )
                results.append((spec["code"], "updated"))
            else:
                results.append((spec["code"], "unchanged"))
    return results
