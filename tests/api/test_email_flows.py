"""Email verification and password reset, end to end on the topology: the in-process API queues the mail,
the topology's worker delivers it over SMTP to the topology's ``mail`` catcher, and the test reads it."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from neurmatic.settings import Settings
from neurmatic.supervisor.layout import APP_DB_USER, DATABASE_NAME, HOST
from tests.api.accounts import (
    Account,
    account_client,
    bearer,
    login,
    new_account,
    register,
)
from tests.conftest import RunningTopology
from tests.mailbox import free_port, messages_to, text_of, token_in, wait_for_mail

NEW_PASSWORD = "Brand-New-Secret-42"


@pytest.fixture
def mailbox(topology: RunningTopology) -> Path:
    return topology.state_dir / "mail"


async def _post(client: httpx.AsyncClient, path: str, **body: str) -> httpx.Response:
    return await client.post(f"/api/v1/auth/{path}", json=body)


async def _registered(client: httpx.AsyncClient, mailbox: Path) -> tuple[Account, str]:
    """A new account and the token of its verification mail."""
    account = new_account()
    assert (await register(client, account)).status_code == 201
    [mail] = wait_for_mail(mailbox, account.email)
    assert mail["Subject"] == "Confirm your email for Neurmatic"
    return account, token_in(mail, "/verify-email")


async def _reset_token(client: httpx.AsyncClient, mailbox: Path, account: Account) -> str:
    before = len(messages_to(mailbox, account.email))
    assert (await _post(client, "forgot-password", email=account.email)).status_code == 200
    mail = wait_for_mail(mailbox, account.email, count=before + 1)[-1]
    assert mail["Subject"] == "Reset your Neurmatic password"
    return token_in(mail, "/reset-password")


async def test_the_verification_mail_verifies_the_email_once(settings: Settings, mailbox: Path) -> None:
    async with account_client(settings) as client:
        account, token = await _registered(client, mailbox)
        text = text_of(messages_to(mailbox, account.email)[0])
        assert account.username in text and "expires in 24 hours" in text
        assert f"{settings.app.frontend_url}/verify-email?token={token}" in text
        tokens = (await login(client, account)).json()["data"]
        assert tokens["user"]["emailVerified"] is False
        verified = await _post(client, "verify-email", token=token)
        again = await _post(client, "verify-email", token=token)
        me = await client.get("/api/v1/users/me", headers=bearer(tokens["accessToken"]))
    assert verified.status_code == 200, verified.text
    assert verified.json()["data"]["emailVerified"] is True
    assert me.json()["data"]["emailVerified"] is True
    assert again.status_code == 422
    assert again.json()["error"]["details"] == [{"field": "token", "message": "invalid, used or expired"}]


async def test_a_password_reset_changes_the_password_and_ends_every_session(
    settings: Settings, mailbox: Path
) -> None:
    async with account_client(settings) as client:
        account, _ = await _registered(client, mailbox)
        before_reset = (await login(client, account)).json()["data"]["accessToken"]
        assert (await client.get("/api/v1/users/me", headers=bearer(before_reset))).status_code == 200
        token = await _reset_token(client, mailbox, account)
        reset = await _post(client, "reset-password", token=token, newPassword=NEW_PASSWORD)
        reused = await _post(client, "reset-password", token=token, newPassword="Another-Secret-77")
        old_session = await client.get("/api/v1/users/me", headers=bearer(before_reset))
        old_password = await login(client, account)
        account.password = NEW_PASSWORD
        new_password = await login(client, account)
    assert reset.status_code == 200, reset.text
    assert reset.json()["data"] == {"passwordReset": True, "sessionsEnded": 1}
    assert reused.status_code == 422
    assert old_session.status_code == 401
    assert old_password.status_code == 401
    assert new_password.status_code == 200
    assert new_password.json()["data"]["user"]["emailVerified"] is True  # the reset link proved the address


async def test_a_weak_new_password_is_refused_and_the_link_stays_usable(
    settings: Settings, mailbox: Path
) -> None:
    async with account_client(settings) as client:
        account, _ = await _registered(client, mailbox)
        token = await _reset_token(client, mailbox, account)
        weak = await _post(client, "reset-password", token=token, newPassword="short")
        strong = await _post(client, "reset-password", token=token, newPassword=NEW_PASSWORD)
    assert weak.status_code == 422
    assert {d["field"] for d in weak.json()["error"]["details"]} == {"newPassword"}
    assert strong.status_code == 200


async def test_a_new_reset_link_replaces_the_older_one(settings: Settings, mailbox: Path) -> None:
    async with account_client(settings) as client:
        account, _ = await _registered(client, mailbox)
        first = await _reset_token(client, mailbox, account)
        second = await _reset_token(client, mailbox, account)
        stale = await _post(client, "reset-password", token=first, newPassword=NEW_PASSWORD)
        fresh = await _post(client, "reset-password", token=second, newPassword=NEW_PASSWORD)
    assert (stale.status_code, fresh.status_code) == (422, 200)


async def test_tokens_only_work_for_their_own_purpose(settings: Settings, mailbox: Path) -> None:
    async with account_client(settings) as client:
        account, verify_token = await _registered(client, mailbox)
        reset_token = await _reset_token(client, mailbox, account)
        reset_as_verify = await _post(client, "verify-email", token=reset_token)
        verify_as_reset = await _post(client, "reset-password", token=verify_token, newPassword=NEW_PASSWORD)
        # Neither misuse spent the token: each still works for what it was made for.
        verified = await _post(client, "verify-email", token=verify_token)
        reset = await _post(client, "reset-password", token=reset_token, newPassword=NEW_PASSWORD)
    assert (reset_as_verify.status_code, verify_as_reset.status_code) == (422, 422)
    assert (verified.status_code, reset.status_code) == (200, 200)


def _insert_token(topology: RunningTopology, user_id: str, purpose: str, expires: str) -> str:
    token = secrets.token_urlsafe(32)
    state = topology.state
    with psycopg.connect(
        host=HOST,
        port=state.ports.postgres(1),
        user=APP_DB_USER,
        dbname=DATABASE_NAME,
        password=state.secrets["POSTGRES_PASSWORD"],
        autocommit=True,
    ) as conn:
        conn.execute(
            "INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, expires_at) "
            f"VALUES (%s, %s, %s, %s, now() + interval '{expires}')",
            (uuid.uuid4(), user_id, purpose, hashlib.sha256(token.encode()).hexdigest()),
        )
    return token


@pytest.mark.parametrize(
    ("purpose", "path", "extra"),
    [
        ("verify_email", "verify-email", {}),
        ("reset_password", "reset-password", {"newPassword": NEW_PASSWORD}),
    ],
)
async def test_an_expired_token_is_refused(
    settings: Settings, topology: RunningTopology, purpose: str, path: str, extra: dict[str, str]
) -> None:
    async with account_client(settings) as client:
        account = new_account()
        assert (await register(client, account)).status_code == 201
        expired = _insert_token(topology, account.user_id, purpose, "-1 second")
        valid = _insert_token(topology, account.user_id, purpose, "1 hour")
        refused = await _post(client, path, token=expired, **extra)
        accepted = await _post(client, path, token=valid, **extra)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert accepted.status_code == 200  # the same request with a live token works: expiry alone refused it


async def test_mail_requests_answer_the_same_for_every_address(settings: Settings, mailbox: Path) -> None:
    async with account_client(settings) as client:
        verified, token = await _registered(client, mailbox)
        assert (await _post(client, "verify-email", token=token)).status_code == 200
        unverified, _ = await _registered(client, mailbox)
        unknown = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
        for path in ("resend-verification", "forgot-password"):
            bodies = {
                address: (await _post(client, path, email=address)).json()
                for address in (unknown, verified.email, unverified.email)
            }
            assert len({str(body) for body in bodies.values()}) == 1, bodies
            assert bodies[unknown]["success"] is True
    # Behind the identical answers: a new verification link only for the unverified account, a reset
    # link for both accounts, nothing for the unknown address.
    wait_for_mail(mailbox, unverified.email, count=3)
    wait_for_mail(mailbox, verified.email, count=2)
    subjects = [m["Subject"] for m in messages_to(mailbox, verified.email)]
    assert subjects == ["Confirm your email for Neurmatic", "Reset your Neurmatic password"]
    assert messages_to(mailbox, unknown) == []


async def test_mail_requests_are_limited_per_address_across_client_addresses(settings: Settings) -> None:
    address = f"limited-{uuid.uuid4().hex[:10]}@example.com"
    statuses = []
    for _ in range(4):
        async with account_client(settings) as client:  # a new client address each time
            statuses.append((await _post(client, "forgot-password", email=address)).status_code)
    assert statuses == [200, 200, 200, 429]  # RATE_LIMIT_FORGOT_PASSWORD is 3/1h


async def test_registration_succeeds_and_logs_when_the_queue_is_down(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dead_redis = settings.redis.model_copy(
        update={"sentinels": [], "url": settings.redis.url.__class__(f"redis://127.0.0.1:{free_port()}/0")}
    )
    broken = settings.model_copy(update={"redis": dead_redis})
    account = new_account()
    with caplog.at_level(logging.ERROR, logger="neurmatic.auth.mail"):
        async with account_client(broken) as client:
            created = await register(client, account)
    assert created.status_code == 201, created.text
    [record] = [r for r in caplog.records if r.getMessage() == "account mail not queued"]
    assert record.__dict__["recipient_domain"] == "example.com"
    assert account.email not in caplog.text
