"""Mirror the credit packs into Stripe: one Product and one one-time Price per pack."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.db import write_transaction
from app.domain import audit
from app.errors import StripeUnavailable
from app.extensions import db
from app.models import CreditPackage
from app.payments.client import call_stripe, is_missing, stripe_client

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


@dataclass
class SyncReport:
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def lookup_key(package: CreditPackage) -> str:
    """Return the Price lookup key of a pack; it follows the pack to each new Price."""
    return f"credits_{package.code}"


def _metadata(obj) -> dict:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if metadata else {}


def _find_product(package: CreditPackage):
    client = stripe_client()
    if package.stripe_product_id:
        try:
            return call_stripe(
                "retrieve product", lambda: client.v1.products.retrieve(package.stripe_product_id)
            )
        except StripeUnavailable as exc:
            if not is_missing(exc):
                raise
            # Linked to a Product this Stripe account (or sandbox) does not have: find or
            # make the pack's own.
            log.warning(
                "pack %s names product %s, which Stripe does not have",
                package.code,
                package.stripe_product_id,
            )
    products = call_stripe("list products", lambda: client.v1.products.list({"limit": 100}))
    for product in products.auto_paging_iter():
        if _metadata(product).get("package_code") == package.code:
            return product
    return None


def _current_price(package: CreditPackage):
    client = stripe_client()
    prices = call_stripe(
        "list prices",
        lambda: client.v1.prices.list({"lookup_keys": [lookup_key(package)], "limit": 10}),
    )
    return next(iter(prices.data), None)


def _price_matches(price, package: CreditPackage, product) -> bool:
    return (
        price is not None
        and product is not None
        and price.active
        and price.unit_amount == package.price_cents
        and price.currency == package.currency
        and price.product == product.id
    )


def _sync_one(package: CreditPackage, dry_run: bool) -> list[str]:
    actions: list[str] = []
    product = _sync_product(package, dry_run, actions)
    price = _sync_price(package, product, dry_run, actions)
    if not dry_run and (
        package.stripe_product_id != product.id or package.stripe_price_id != price.id
    ):
        _link(package, product, price)
        if not actions:
            actions.append(f"link product {product.id} and price {price.id}")
    return actions


def _sync_product(package: CreditPackage, dry_run: bool, actions: list[str]):
    """Create the pack's Product, or update the fields that differ; return it (None when a
    dry run would create it)."""
    client = stripe_client()
    product_fields = {
        "name": package.name,
        "description": package.description or package.name,
        "active": package.is_active,
        "metadata": {"package_code": package.code, "credits": str(package.credits)},
    }
    product = _find_product(package)
    if product is None:
        actions.append(f"create product {package.name!r}")
        if dry_run:
            return None
        return call_stripe(
            "create product",
            lambda: client.v1.products.create(
                product_fields, {"idempotency_key": f"credits-sync:product:{package.code}"}
            ),
        )
    stale = {
        k: v
        for k, v in product_fields.items()
        if (_metadata(product) if k == "metadata" else getattr(product, k, None)) != v
    }
    if not stale:
        return product
    actions.append(f"update product {product.id} ({', '.join(sorted(stale))})")
    if dry_run:
        return product
    digest = hashlib.sha256(repr(sorted(stale.items())).encode()).hexdigest()[:16]
    return call_stripe(
        "update product",
        lambda: client.v1.products.update(
            product.id,
            stale,
            {"idempotency_key": f"credits-sync:product:{product.id}:{digest}"},
        ),
    )


def _sync_price(package: CreditPackage, product, dry_run: bool, actions: list[str]):
    """Return the Price that charges the pack's amount, creating it if needed, and archive
    the ones it replaces (None when a dry run would create it)."""
    client = stripe_client()
    price = _current_price(package)
    current = price if _price_matches(price, package, product) else None
    stale_ids = {package.stripe_price_id, price.id if price else None} - {None}
    if current is None:
        actions.append(f"create price {package.price_cents} {package.currency}")
        if not dry_run:
            current = call_stripe(
                "create price",
                lambda: client.v1.prices.create(
                    {
                        "product": product.id,
                        "currency": package.currency,
                        "unit_amount": package.price_cents,
                        "lookup_key": lookup_key(package),
                        "transfer_lookup_key": True,
                        "metadata": {"package_code": package.code},
                    },
                    {
                        "idempotency_key": (
                            f"credits-sync:price:{package.code}:{product.id}:"
                            f"{package.currency}:{package.price_cents}"
                        )
                    },
                ),
            )
    for old_id in sorted(stale_ids - ({current.id} if current else set())):
        _archive_price(
            old_id, price if price is not None and price.id == old_id else None, dry_run, actions
        )
    return current


def _archive_price(old_id: str, old, dry_run: bool, actions: list[str]) -> None:
    """Archive a Price the pack no longer charges, unless it is archived already."""
    client = stripe_client()
    if old is None:
        try:
            old = call_stripe("retrieve price", lambda: client.v1.prices.retrieve(old_id))
        except StripeUnavailable as exc:
            if not is_missing(exc):
                raise
            return  # nothing to archive where Stripe has no such Price
    if not old.active:
        return
    actions.append(f"archive price {old_id}")
    if not dry_run:
        call_stripe(
            "archive price",
            lambda: client.v1.prices.update(
                old_id, {"active": False}, {"idempotency_key": f"credits-sync:archive:{old_id}"}
            ),
        )


def _link(package: CreditPackage, product, price) -> None:
    """Record the pack's Product and Price ids, audited."""
    with write_transaction() as session:
        row = session.get(CreditPackage, package.id)
        before = {"product": row.stripe_product_id, "price": row.stripe_price_id}
        row.stripe_product_id, row.stripe_price_id = product.id, price.id
        audit.record(
            "cli",
            "package.synced",
            "package",
            row.code,
            before=before,
            after={"product": product.id, "price": price.id},
        )


def sync_stripe(*, dry_run: bool = False, echo: Echo = print) -> SyncReport:
    """Create or update each pack's Product and Price in Stripe, printing each step."""
    packages = list(db.session.scalars(select(CreditPackage).order_by(CreditPackage.display_order)))
    db.session.commit()  # no database lock is held while Stripe is called
    report = SyncReport()
    for n, package in enumerate(packages, start=1):
        actions = _sync_one(package, dry_run)
        prefix = f"[{n}/{len(packages)}] {package.code}:"
        if actions:
            for action in actions:
                echo(f"{prefix} {'would ' if dry_run else ''}{action}")
            report.actions.extend(f"{package.code}: {a}" for a in actions)
        else:
            echo(f"{prefix} up to date")
    return report
