"""Sign-in with Google, LinkedIn and GitHub, end to end against local providers speaking the protocols.

The "browser" is two httpx clients: one on our app in-process (it keeps our cookies, over https so the
Secure binding cookie is sent back), one over loopback to the provider (its form, its redirects).
Google and LinkedIn are two oidc-provider-mock issuers; GitHub is tests/oauth_servers.GitHubServer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from neurmatic.domain.users.models import OAuthAccount, Status, User
from neurmatic.settings import Settings
from tests.api.accounts import Account, account_client, bearer, fast_settings, login, new_account, register
from tests.api.conftest import asgi_app
from tests.conftest import RunningTopology
from tests.oauth_servers import GitHubServer, GitHubUser, github_server, oidc_provider, set_oidc_user

APP = "https://testserver"
SECRET = "provider-client-secret"


@pytest.fixture(scope="module")
def google() -> Iterator[str]:
    with oidc_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def linkedin() -> Iterator[str]:
    with oidc_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubServer]:
    with github_server("github-client", SECRET) as server:
        yield server


def oauth_settings(
    base: Settings, google: str, linkedin: str, github: GitHubServer, **extra: Any
) -> Settings:
    """All three providers configured, their endpoints on the local servers."""
    secret = SecretStr(SECRET)
    oauth: dict[str, Any] = {"rate_limit": "100/15m", **extra}
    for name, issuer in (("google", google), ("linkedin", linkedin)):
        oauth |= {
            f"{name}_client_id": f"{name}-client",
            f"{name}_client_secret": secret,
            f"{name}_authorize_url": f"{issuer}/oauth2/authorize",
            f"{name}_token_url": f"{issuer}/oauth2/token",
            f"{name}_userinfo_url": f"{issuer}/userinfo",
            f"{name}_jwks_url": f"{issuer}/jwks",
            f"{name}_issuer": issuer,
        }
    oauth |= {
        "github_client_id": github.client_id,
        "github_client_secret": secret,
        "github_authorize_url": f"{github.url}/login/oauth/authorize",
        "github_token_url": f"{github.url}/login/oauth/access_token",
        "github_api_url": github.url,
    }
    for name in ("google", "linkedin", "github"):
        oauth[f"{name}_callback_url"] = f"{APP}/api/v1/auth/oauth/{name}/callback"
    return base.model_copy(update={"oauth": base.oauth.model_copy(update=oauth)})


@pytest.fixture
def settings(topology: RunningTopology, google: str, linkedin: str, github: GitHubServer) -> Settings:
    return oauth_settings(fast_settings(topology.app_settings()), google, linkedin, github)


@asynccontextmanager
async def browser(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(our app, the providers), as one browser with its own client address."""
    async with account_client(settings) as app, httpx.AsyncClient(timeout=10) as web:
        app.base_url = httpx.URL(APP)
        yield app, web


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def start(app: httpx.AsyncClient, provider: str) -> str:
    """Our start endpoint; returns the provider's authorization URL it redirects to."""
    response = await app.get(f"/api/v1/auth/oauth/{provider}")
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def consent_oidc(web: httpx.AsyncClient, authorize_url: str, sub: str) -> str:
    """Fill oidc-provider-mock's authorization form as ``sub``; returns where it sends the browser."""
    form = await web.get(authorize_url)
    assert form.status_code == 200 and 'name="sub"' in form.text
    answer = await web.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def consent_github(web: httpx.AsyncClient, authorize_url: str) -> str:
    answer = await web.get(authorize_url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def oidc_identity(issuer: str, *, verified: bool = True, email: str | None = None) -> tuple[str, str]:
    """A new provider user: (sub, email)."""
    sub = f"sub-{uuid.uuid4().hex[:12]}"
    email = email or f"{sub}@Example.com"
    set_oidc_user(issuer, sub, email=email, email_verified=verified, name="Ada Lovelace")
    return sub, email


async def oidc_sign_in(
    app: httpx.AsyncClient, web: httpx.AsyncClient, provider: str, sub: str
) -> httpx.Response:
    return await app.get(await consent_oidc(web, await start(app, provider), sub))


def app_db(app: httpx.AsyncClient) -> Any:
    return asgi_app(app).state.clients.db


async def stored_user(app: httpx.AsyncClient, email: str) -> tuple[User | None, int]:
    """The user with ``email`` and how many provider accounts are linked to it."""
    async with app_db(app).session() as db:
        user = await db.scalar(select(User).where(User.email == email.lower()))
        links = await db.scalar(
            select(func.count())
            .select_from(OAuthAccount)
            .where(OAuthAccount.user_id == (user.id if user else None))
        )
    return user, int(links or 0)


async def update_user(app: httpx.AsyncClient, email: str, **values: Any) -> None:
    async with app_db(app).session() as db:
        user = await db.scalar(select(User).where(User.email == email.lower()))
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        await db.commit()


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return str(body["error"]["message"])


@pytest.mark.parametrize("provider", ["google", "linkedin"])
async def test_openid_connect_sign_in_end_to_end(settings: Settings, provider: str, request: Any) -> None:
    issuer = request.getfixturevalue(provider)
    sub, email = oidc_identity(issuer)
    async with browser(settings) as (app, web):
        started = await app.get(f"/api/v1/auth/oauth/{provider}")
        authorize_url = started.headers["location"]
        params = query_of(authorize_url)
        assert authorize_url.startswith(f"{issuer}/oauth2/authorize?")
        assert params["client_id"] == f"{provider}-client" and params["scope"] == "openid email profile"
        assert params["redirect_uri"] == f"{APP}/api/v1/auth/oauth/{provider}/callback"
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
        assert params["nonce"] and len(params["state"]) >= 32
        cookie = started.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie

        callback_url = await consent_oidc(web, authorize_url, sub)
        assert (
            callback_url.startswith(params["redirect_uri"])
            and query_of(callback_url)["state"] == params["state"]
        )
        signed_in = await app.get(callback_url)
        assert signed_in.status_code == 200, signed_in.text
        data = signed_in.json()["data"]
        assert data["user"]["email"] == email.lower() and data["user"]["emailVerified"] is True
        assert data["tokenType"] == "Bearer" and data["refreshToken"]
        me = await app.get("/api/v1/users/me", headers=bearer(data["accessToken"]))
        assert me.status_code == 200 and me.json()["data"]["id"] == data["user"]["id"]

        again = await oidc_sign_in(app, web, provider, sub)  # the linked account, not a new user
        user, links = await stored_user(app, email)
    assert again.json()["data"]["user"]["id"] == data["user"]["id"]
    assert user is not None and user.email_verified_at is not None and user.password_hash is None
    assert user.terms_accepted_at is None and user.display_name == "Ada Lovelace" and links == 1
    assert user.username.startswith("Ada_Lovelace")


async def test_github_sign_in_end_to_end_with_pkce_checked(settings: Settings, github: GitHubServer) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"octo-{tag}@example.com"
    github.signed_in = GitHubUser(
        id=int(tag, 16),
        login=f"octo-{tag}",
        name="The Octocat",
        emails=[
            {"email": f"other-{tag}@example.com", "primary": False, "verified": True},
            {"email": email, "primary": True, "verified": True},
        ],
    )
    async with browser(settings) as (app, web):
        authorize_url = await start(app, "github")
        params = query_of(authorize_url)
        assert params["scope"] == "read:user user:email" and "nonce" not in params
        signed_in = await app.get(await consent_github(web, authorize_url))
        assert signed_in.status_code == 200, signed_in.text
        data = signed_in.json()["data"]
        me = await app.get("/api/v1/users/me", headers=bearer(data["accessToken"]))
        user, links = await stored_user(app, email)
    assert me.status_code == 200 and me.json()["data"]["email"] == email
    assert user is not None and user.username == f"octo-{tag}" and user.email_verified and links == 1


async def test_a_code_from_another_sign_in_fails_the_pkce_check(
    settings: Settings, github: GitHubServer
) -> None:
    github.signed_in = GitHubUser(
        1, "mallory", None, [{"email": "m@example.com", "primary": True, "verified": True}]
    )
    async with browser(settings) as (app, web):
        stolen_code = query_of(await consent_github(web, await start(app, "github")))["code"]
        own_state = query_of(await start(app, "github"))["state"]
        injected = await app.get(
            "/api/v1/auth/oauth/github/callback", params={"code": stolen_code, "state": own_state}
        )
    assert "GitHub did not accept this sign-in" in error_of(injected, 401)


async def test_success_redirect_carries_the_tokens_in_the_fragment(
    topology: RunningTopology, google: str, linkedin: str, github: GitHubServer
) -> None:
    target = "https://app.example.com/signed-in"
    settings = oauth_settings(
        fast_settings(topology.app_settings()), google, linkedin, github, success_redirect=target
    )
    sub, _ = oidc_identity(google)
    async with browser(settings) as (app, web):
        redirected = await oidc_sign_in(app, web, "google", sub)
        location = redirected.headers["location"]
        page, _, fragment = location.partition("#")
        tokens = parse_qs(fragment)
        me = await app.get("/api/v1/users/me", headers=bearer(tokens["accessToken"][0]))
    assert redirected.status_code == 302 and page == target and "?" not in page
    assert tokens["refreshToken"] and tokens["tokenType"] == ["Bearer"] and me.status_code == 200


async def test_unknown_and_unconfigured_providers_are_not_found(topology: RunningTopology) -> None:
    async with browser(fast_settings(topology.app_settings())) as (app, _):
        unknown = await app.get("/api/v1/auth/oauth/myspace")
        unconfigured = await app.get("/api/v1/auth/oauth/google")
    assert "myspace" in error_of(unknown, 404) and unknown.json()["error"]["code"] == "NOT_FOUND"
    assert "Google is not available" in error_of(unconfigured, 404)


async def test_the_sign_in_page_learns_which_providers_are_configured(
    topology: RunningTopology, settings: Settings
) -> None:
    async with browser(fast_settings(topology.app_settings())) as (app, _):
        none = await app.get("/api/v1/auth/oauth/providers")
    async with browser(settings) as (app, _):
        three = await app.get("/api/v1/auth/oauth/providers")
    only_github = settings.model_copy(
        update={
            "oauth": settings.oauth.model_copy(
                update={"google_client_id": "", "linkedin_client_secret": None}
            )
        }
    )
    async with browser(only_github) as (app, _):
        one = await app.get("/api/v1/auth/oauth/providers")
    assert none.json() == {"success": True, "data": {"providers": []}}
    assert three.json()["data"]["providers"] == ["google", "linkedin", "github"]
    assert one.json()["data"]["providers"] == ["github"]


async def test_forged_replayed_unbound_and_cross_provider_states_are_refused(
    settings: Settings, google: str
) -> None:
    sub, _ = oidc_identity(google)
    async with browser(settings) as (app, web):
        forged = await app.get("/api/v1/auth/oauth/google/callback", params={"code": "x", "state": "forged"})
        missing = await app.get("/api/v1/auth/oauth/google/callback", params={"code": "x"})

        callback_url = await consent_oidc(web, await start(app, "google"), sub)
        assert (await app.get(callback_url)).status_code == 200
        replayed = await app.get(callback_url)

        callback_url = await consent_oidc(web, await start(app, "google"), sub)
        app.cookies.clear()  # another browser, or cookies blocked: the state is not bound to it
        unbound = await app.get(callback_url)

        state = query_of(await start(app, "linkedin"))["state"]
        cross = await app.get("/api/v1/auth/oauth/google/callback", params={"code": "x", "state": state})
    assert "unknown, expired or already used" in error_of(forged, 401)
    assert "no state" in error_of(missing, 401)
    assert "already used" in error_of(replayed, 401)
    assert "another browser" in error_of(unbound, 401)
    assert "another provider" in error_of(cross, 401)


async def test_unverified_emails_are_refused(settings: Settings, google: str, github: GitHubServer) -> None:
    sub, email = oidc_identity(google, verified=False)
    github.signed_in = GitHubUser(
        7, "unverified", None, [{"email": "u@example.com", "primary": True, "verified": False}]
    )
    async with browser(settings) as (app, web):
        from_google = await oidc_sign_in(app, web, "google", sub)
        from_github = await app.get(await consent_github(web, await start(app, "github")))
        user, _ = await stored_user(app, email)
    assert "Google did not confirm a verified email" in error_of(from_google, 401)
    assert "GitHub did not confirm a verified email" in error_of(from_github, 401)
    assert user is None


async def test_a_refusal_at_the_provider_is_reported_in_our_words(settings: Settings) -> None:
    async with browser(settings) as (app, web):
        authorize_url = await start(app, "linkedin")
        denied = await web.post(authorize_url, data={"action": "deny"})
        answer = await app.get(denied.headers["location"])
    assert error_of(answer, 401) == "sign-in with LinkedIn was cancelled"
    assert "resource owner" not in answer.text  # the provider's own description is not echoed


async def test_an_unreachable_provider_is_a_503_without_internals(
    topology: RunningTopology, google: str, linkedin: str, github: GitHubServer
) -> None:
    base = oauth_settings(fast_settings(topology.app_settings()), google, linkedin, github)
    dead = "http://127.0.0.1:9/oauth2/token"
    settings = base.model_copy(update={"oauth": base.oauth.model_copy(update={"google_token_url": dead})})
    sub, _ = oidc_identity(google)
    async with browser(settings) as (app, web):
        answer = await oidc_sign_in(app, web, "google", sub)
    assert "Google is not answering" in error_of(answer, 503)
    assert "127.0.0.1:9" not in answer.text


async def _register(app: httpx.AsyncClient, email: str) -> Account:
    account = new_account()
    account.email = email.lower()
    assert (await register(app, account)).status_code == 201
    return account


async def test_a_verified_email_links_the_existing_account(settings: Settings, google: str) -> None:
    async with browser(settings) as (app, web):
        sub, email = oidc_identity(google)
        account = await _register(app, email)
        await update_user(app, email, email_verified_at=datetime.now(UTC))
        linked = await oidc_sign_in(app, web, "google", sub)
        password_login = await login(app, account)
        user, links = await stored_user(app, email)
    assert linked.status_code == 200 and linked.json()["data"]["user"]["id"] == account.user_id
    assert links == 1 and user is not None and user.password_hash is not None
    assert password_login.status_code == 200  # the owner keeps both ways in


async def test_linking_an_unverified_account_drops_credentials_nobody_proved(
    settings: Settings, google: str
) -> None:
    async with browser(settings) as (app, web):
        sub, email = oidc_identity(google)
        account = await _register(app, email)  # e.g. someone squatting another person's address
        squatter = (await login(app, account)).json()["data"]
        linked = await oidc_sign_in(app, web, "google", sub)
        password_login = await login(app, account)
        squatter_me = await app.get("/api/v1/users/me", headers=bearer(squatter["accessToken"]))
        user, links = await stored_user(app, email)
    assert linked.status_code == 200 and linked.json()["data"]["user"]["id"] == account.user_id
    assert links == 1 and user is not None and user.email_verified and user.password_hash is None
    assert password_login.status_code == 401 and squatter_me.status_code == 401


async def test_suspended_accounts_cannot_sign_in_with_a_provider(settings: Settings, google: str) -> None:
    sub, email = oidc_identity(google)
    async with browser(settings) as (app, web):
        assert (await oidc_sign_in(app, web, "google", sub)).status_code == 200
        await update_user(app, email, status=Status.SUSPENDED)
        refused = await oidc_sign_in(app, web, "google", sub)
    assert "this account is suspended" in error_of(refused, 401)


async def test_start_and_callback_are_rate_limited_per_address(settings: Settings) -> None:
    strict = settings.model_copy(update={"oauth": settings.oauth.model_copy(update={"rate_limit": "2/15m"})})
    async with browser(strict) as (app, _):
        starts = [(await app.get("/api/v1/auth/oauth/github")).status_code for _ in range(3)]
        callbacks = [
            (await app.get("/api/v1/auth/oauth/github/callback", params={"state": "s"})).status_code
            for _ in range(3)
        ]
    assert starts == [302, 302, 429] and callbacks == [401, 401, 429]


async def test_a_provider_sign_in_still_asks_for_the_second_factor(settings: Settings, google: str) -> None:
    import pyotp

    async with browser(settings) as (app, web):
        sub, email = oidc_identity(google)
        account = await _register(app, email)
        await update_user(app, email, email_verified_at=datetime.now(UTC))
        tokens = (await login(app, account)).json()["data"]
        secret = (await app.post("/api/v1/auth/2fa/setup", headers=bearer(tokens["accessToken"]))).json()[
            "data"
        ]
        totp = pyotp.TOTP(secret["secret"])
        await app.post(
            "/api/v1/auth/2fa/verify", headers=bearer(tokens["accessToken"]), json={"code": totp.now()}
        )
        asked = await oidc_sign_in(app, web, "google", sub)
        challenge = asked.json()["error"]["details"]["challenge"]
        wrong = await app.post("/api/v1/auth/2fa/challenge", json={"challenge": challenge, "code": "000000"})
        # the next step's code: the current one was spent by the confirmation above
        next_code = totp.at(time.time() + totp.interval)
        answered = await app.post(
            "/api/v1/auth/2fa/challenge", json={"challenge": challenge, "code": next_code}
        )
        replayed = await app.post(
            "/api/v1/auth/2fa/challenge", json={"challenge": challenge, "code": next_code}
        )
        fresh = (await oidc_sign_in(app, web, "google", sub)).json()["error"]["details"]["challenge"]
        code_reused = await app.post(
            "/api/v1/auth/2fa/challenge", json={"challenge": fresh, "code": next_code}
        )
    assert asked.status_code == 401 and asked.json()["error"]["details"]["twoFactorRequired"] is True
    assert "accessToken" not in asked.text
    assert wrong.status_code == 401
    assert answered.status_code == 200 and answered.json()["data"]["user"]["email"] == email.lower()
    assert replayed.status_code == 401
    assert code_reused.status_code == 401 and code_reused.json()["error"]["details"]["codeReused"] is True
