"""The job dashboard at /admin/queues: a browser page for administrators, cookie sign-in with CSRF."""

from __future__ import annotations

import re

import httpx

from neurmatic.settings import Settings
from tests.api.accounts import (
    Account,
    account_client,
    bearer,
    create_admin,
    signed_in,
)
from tests.conftest import RunningTopology


def _admin(topology: RunningTopology) -> Account:
    return create_admin(topology.state_dir)[0]


async def _sign_in_form(
    client: httpx.AsyncClient, account: Account, *, csrf: str | None = None
) -> httpx.Response:
    form = await client.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return await client.post(
        "/admin/login",
        data={
            "email": account.email,
            "password": account.password,
            "csrf": csrf if csrf is not None else token.group(1),
            "next": "/admin/queues/",
        },
    )


async def test_an_admin_signs_in_with_a_cookie_and_sees_the_queues(
    settings: Settings, topology: RunningTopology
) -> None:
    admin = _admin(topology)
    async with account_client(settings) as client:
        anonymous = await client.get("/admin/queues/")
        signed = await _sign_in_form(client, admin)
        page = await client.get("/admin/queues/")
        queues = await client.get("/admin/queues/0/data/queues.json")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/admin/login")
    assert signed.status_code == 303 and signed.headers["location"] == "/admin/queues/"
    assert page.status_code == 200 and "RQ" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    names = {q["name"] for q in queues.json()["queues"]}
    assert {"email", "maintenance"} <= names or queues.status_code == 200


async def test_the_login_form_needs_its_csrf_token_and_an_admin(settings: Settings) -> None:
    async with account_client(settings) as client:
        member, _ = await signed_in(client)
        forged = await _sign_in_form(client, member, csrf="forged-token-value")
        member_try = await _sign_in_form(client, member)
        after = await client.get("/admin/queues/")
    assert forged.status_code == 403 and "expired" in forged.text
    assert member_try.status_code == 403 and "administrators" in member_try.text
    assert after.status_code == 303


async def test_a_bearer_token_does_not_open_the_dashboard(
    settings: Settings, topology: RunningTopology
) -> None:
    admin = _admin(topology)
    async with account_client(settings) as client:
        token = await client.post(
            "/api/v1/auth/login", json={"email": admin.email, "password": admin.password}
        )
        page = await client.get("/admin/queues/", headers=bearer(token.json()["data"]["accessToken"]))
    assert page.status_code == 303


async def test_changes_need_a_same_origin_post(settings: Settings, topology: RunningTopology) -> None:
    admin = _admin(topology)
    async with account_client(settings) as client:
        await _sign_in_form(client, admin)
        cross_site = await client.post(
            "/admin/queues/requeue/email", headers={"Origin": "https://evil.example"}
        )
        no_origin = await client.post("/admin/queues/requeue/email")
        get_change = await client.get(
            "/admin/queues/requeue/email", headers={"Referer": "https://testserver/x"}
        )
        same_site = await client.post("/admin/queues/requeue/email", headers={"Origin": "https://testserver"})
    assert cross_site.status_code == 403 and no_origin.status_code == 403 and get_change.status_code == 403
    assert same_site.status_code == 200
