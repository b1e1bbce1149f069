"""``neurmatic users create-admin``: the first administrator of a deployment."""

from __future__ import annotations

import asyncio
import getpass
import sys

import click
from sqlalchemy import select

from neurmatic.db.engines import Database
from neurmatic.domain.users.models import Role, Status, User
from neurmatic.domain.users.names import USERNAME_RULE, is_valid_username
from neurmatic.domain.users.passwords import hash_password, password_problems
from neurmatic.errors import ConfigurationError
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option
from neurmatic.settings import Settings


@click.group()
def users() -> None:
    """Accounts."""


@users.command("create-admin")
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@deployment_option
def create_admin(email: str, username: str, password_stdin: bool, target: DeploymentChoice) -> None:
    """Create an administrator, or promote the existing account with that email."""
    settings = target.load().settings
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    problems = password_problems(password, email=email, username=username)
    if problems:
        raise ConfigurationError("the password is too weak: " + "; ".join(problems))
    if not is_valid_username(username):
        raise ConfigurationError(f"the username must be {USERNAME_RULE}")
    created = asyncio.run(_create_admin(settings, email.strip().lower(), username, password))
    click.echo(f"{'created' if created else 'promoted'} administrator {email}")


async def _create_admin(settings: Settings, email: str, username: str, password: str) -> bool:
    from datetime import UTC, datetime

    db = Database(settings.database)
    try:
        async with db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
            created = user is None
            if user is None:
                user = User(email=email, username=username, email_verified_at=datetime.now(UTC))
                session.add(user)
            user.password_hash = await hash_password(password, settings.auth.bcrypt_rounds)
            user.role, user.status = Role.ADMIN, Status.ACTIVE
            await session.commit()
            return created
    finally:
        await db.close()
