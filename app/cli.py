"""`flask credits ...` and `flask users ...`: thin wrappers over the services."""

from __future__ import annotations

import logging
import secrets
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app import ledger
from app.domain import users
from app.domain.packs import seed_packages
from app.errors import DomainError, StripeUnavailable

credits_cli = AppGroup("credits", help="Credit packs, balances and the ledger.")
users_cli = AppGroup("users", help="Users and API tokens.")

DEMO_USERS = (
    ("demo@example.com", "demo-password", False),
    ("admin@example.com", "admin-password", True),
)


def _table(headers: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _fail(exc: DomainError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(1)


@credits_cli.command("seed-packages")
def seed_packages_command() -> None:
    """Create or update the five standard credit packs."""
    for code, outcome in seed_packages():
        click.echo(f"{code:<12} {outcome}")


@credits_cli.command("sync-stripe")
@click.option("--dry-run", is_flag=True, help="Print what would change and change nothing.")
@click.option("--verbose", is_flag=True, help="Also log every Stripe request and response.")
def sync_stripe_command(dry_run: bool, verbose: bool) -> None:
    """Create or update one Stripe Product and Price per pack (idempotent)."""
    from app.payments.catalog_sync import sync_stripe

    logging.getLogger("stripe").setLevel(logging.INFO if verbose else logging.WARNING)

    try:
        report = sync_stripe(dry_run=dry_run, echo=click.echo)
    except DomainError as exc:
        _fail(exc)
    if dry_run:
        click.echo(f"dry run: {len(report.actions)} change(s) would be made")
    else:
        click.echo(f"done: {len(report.actions)} change(s) made")


@credits_cli.command("reconcile")
@click.option(
    "--since", "since_text", default="72h", show_default=True, help="Window: 30m, 72h, 7d."
)
@click.option("--apply", is_flag=True, help="Repair what can be repaired.")
def reconcile_command(since_text: str, apply: bool) -> None:
    """Compare Stripe with our purchases and ledger, and with --apply repair the drift.

    Exit 0 when no unrepaired drift remains, 1 when some does, 2 when Stripe cannot be
    reached, 3 when another run holds the lock.
    """
    from app.payments.reconcile import ReconcileLocked, parse_duration, reconcile, run_lock

    try:
        since = parse_duration(since_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc

    def bar(items: list, label: str):
        return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)

    try:
        with run_lock():
            report = reconcile(since, apply=apply, bar=bar)
    except ReconcileLocked as exc:
        click.echo(f"error: {exc}; not starting a second one", err=True)
        sys.exit(3)
    except StripeUnavailable as exc:
        click.echo(f"error: Stripe cannot be reached: {exc.message}", err=True)
        sys.exit(2)
    checked = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in report.checked.items())
    click.echo(f"checked {checked} from the last {since_text}")
    if not report.items:
        click.echo("no drift: Stripe and the ledger agree")
        return
    _table(
        ("KIND", "PURCHASE", "EMAIL", "RESULT", "DETAIL"),
        [
            (i.kind, i.purchase.public_id, i.purchase.user.email, i.result, i.detail)
            for i in report.items
        ],
    )
    remaining = report.unresolved
    if remaining:
        hint = "" if apply else " (run with --apply to repair)"
        click.echo(f"{len(remaining)} drift item(s) remain{hint}")
        sys.exit(1)
    click.echo("all drift repaired or waiting for review")


@credits_cli.command("grant")
@click.argument("email")
@click.option("--amount", type=int, required=True, help="Credits to add; negative deducts.")
@click.option("--reason", required=True, help="Why, for the audit trail.")
def grant_command(email: str, amount: int, reason: str) -> None:
    """Adjust a user's balance by hand (audited)."""
    try:
        user = users.get_user(email)
        txn = ledger.adjust(user, amount, reason, actor="cli")
    except DomainError as exc:
        _fail(exc)
    click.echo(f"adjusted {user.email} by {amount:+d} (transaction {txn.id})")
    click.echo(str(ledger.balance(user.id)))


@credits_cli.command("balance")
@click.argument("email")
def balance_command(email: str) -> None:
    """Print a user's balance as the last line."""
    try:
        user = users.get_user(email)
    except DomainError as exc:
        _fail(exc)
    click.echo(str(ledger.balance(user.id)))


@credits_cli.command("verify-ledger")
def verify_ledger_command() -> None:
    """Check every ledger invariant; exit 1 listing each violation."""
    problems = ledger.verify()
    if problems:
        for problem in problems:
            click.echo(f"VIOLATION: {problem}")
        click.echo(f"{len(problems)} violation(s)")
        sys.exit(1)
    click.echo("ledger ok: every invariant holds")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", help="Password; generated and printed when omitted.")
@click.option("--admin", is_flag=True, help="Give the user admin rights.")
def create_user_command(email: str, password: str | None, admin: bool) -> None:
    """Create a user."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = users.create_user(email, password, is_admin=admin, actor="cli")
    except DomainError as exc:
        _fail(exc)
    click.echo(f"created {'admin' if admin else 'user'} {user.email}")
    if generated:
        click.echo(f"password: {password}")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
def token_command(email: str, name: str) -> None:
    """Create an API token and print it as the last line (it is shown only once)."""
    try:
        user = users.get_user(email)
    except DomainError as exc:
        _fail(exc)
    token = users.issue_token(user, name, actor="cli")
    click.echo(f"token for {user.email} (store it now; it is not shown again):")
    click.echo(token)


@users_cli.command("demo")
def demo_command() -> None:
    """Create the demo user and admin if missing (development only) and print their logins."""
    if current_app.config["APP_ENV"] == "production":
        click.echo("error: demo users are for development only", err=True)
        sys.exit(1)
    for email, password, is_admin in DEMO_USERS:
        if users.find_user(email) is None:
            users.create_user(email, password, is_admin=is_admin, actor="cli")
        click.echo(f"{'admin' if is_admin else 'user ':<5}  {email}  /  {password}")


outbox_cli = AppGroup("outbox", help="Emails waiting to be sent.")


@outbox_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering every --interval seconds.")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between rounds.")
def outbox_deliver_command(loop: bool, interval: float) -> None:
    """Send the emails that are due (receipts, refund and dispute notices)."""
    from app.domain.mail import deliver_pending

    while True:
        sent, failed = deliver_pending()
        click.echo(f"sent {sent}, failed {failed}")
        if not loop:
            sys.exit(1 if failed else 0)
        time.sleep(interval)


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(credits_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(outbox_cli)
