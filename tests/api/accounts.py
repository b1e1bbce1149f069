"""Helpers for account tests: unique identities, a fast-hashing app, sign-up and sign-in."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from neurmatic.settings import Settings
from tests.api.conftest import api_client
from tests.support import PASSWORD, neurmatic
from tests.support import bearer as bearer  # re-exported: the API tests take it with the helpers below

_counter = itertools.count(1)


def unique_ip() -> str:
    """A client address of its own per test, so rate-limit counters in Redis never collide."""
    return f"198.51.{random.randint(0, 255)}.{next(_counter) % 250 + 1}"


def fast_settings(settings: Settings, **auth: Any) -> Settings:
    """bcrypt at 4 rounds so tests stay fast (BCRYPT_ROUNDS itself is tested separately)."""
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"bcrypt_rounds": 4, **auth})})


@dataclass
class Account:
    email: str
    username: str
    password: str
    user_id: str = ""


def new_account() -> Account:
    tag = uuid.uuid4().hex[:10]
    return Account(email=f"user-{tag}@example.com", username=f"user_{tag}", password=PASSWORD)


@asynccontextmanager
async def account_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as client:
        client.headers["X-Forwarded-For"] = unique_ip()
        yield client


async def register(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": account.email,
            "username": account.username,
            "password": account.password,
            "termsAccepted": True,
        },
    )
    if response.status_code == 201:
        account.user_id = response.json()["data"]["id"]
    return response


async def login(client: httpx.AsyncClient, account: Account, **extra: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password, **extra}
    )


async def signed_in(client: httpx.AsyncClient) -> tuple[Account, dict[str, Any]]:
    account = new_account()
    assert (await register(client, account)).status_code == 201
    response = await login(client, account)
    assert response.status_code == 200, response.text
    return account, response.json()["data"]


def create_admin(state_dir: Path) -> tuple[Account, str]:
    """A new administrator made with the real ``neurmatic users create-admin``; (account, its output)."""
    admin = new_account()
    result = neurmatic(
        "users",
        "create-admin",
        "--email",
        admin.email,
        "--username",
        admin.username,
        "--password-stdin",
        state_dir=state_dir,
        stdin=admin.password + "\n",
    )
    return admin, result.stdout
