"""`flask credits ...` and `flask users ...`: thin wrappers over the services."""

from __future__ import annotations

import secrets
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import accounts, ledger
from .errors import DomainError
from .packages import seed_packages

credits_cli = AppGroup("credits", help="Credit packs, balances and the ledger.")
users_cli = AppGroup("users", help="Users and API tokens.")

DEMO_USERS = (
    ("demo@example.com", "demo-password", False),
    ("admin@example.com", "admin-password", True),
)


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
def sync_stripe_command(dry_run: bool) -> None:
    """Create or update one Stripe Product and Price per pack (idempotent)."""
    from .payments.catalog_sync import sync_stripe

    try:
        report = sync_stripe(dry_run=dry_run, echo=click.echo)
    except DomainError as exc:
        _fail(exc)
    if dry_run:
        click.echo(f"dry run: {len(report.actions)} change(s) would be made")
    else:
        click.echo(f"done: {len(report.actions)} change(s) made")


@credits_cli.command("grant")
@click.argument("email")
@click.option("--amount", type=int, required=True, help="Credits to add; negative deducts.")
@click.option("--reason", required=True, help="Why, for the audit trail.")
def grant_command(email: str, amount: int, reason: str) -> None:
    """Adjust a user's balance by hand (audited)."""
    try:
        user = accounts.get_user(email)
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
        user = accounts.get_user(email)
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
        user = accounts.create_user(email, password, is_admin=admin, actor="cli")
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
        user = accounts.get_user(email)
    except DomainError as exc:
        _fail(exc)
    token = accounts.issue_token(user, name, actor="cli")
    click.echo(f"token for {user.email} (store it now; it is not shown again):")
    click.echo(token)


@users_cli.command("demo")
def demo_command() -> None:
    """Create the demo user and admin if missing (development only) and print their logins."""
    if current_app.config["APP_ENV"] == "production":
        click.echo("error: demo users are for development only", err=True)
        sys.exit(1)
    for email, password, is_admin in DEMO_USERS:
        if accounts.find_user(email) is None:
            accounts.create_user(email, password, is_admin=is_admin, actor="cli")
        click.echo(f"{'admin' if is_admin else 'user ':<5}  {email}  /  {password}")


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(credits_cli)
    app.cli.add_command(users_cli)
