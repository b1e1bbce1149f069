"""The sign-in flow: send the browser to the provider, then turn its answer into a session of ours."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from neurmatic.api.auth.challenge import open_challenge
from neurmatic.api.auth.oauth.accounts import resolve_user
from neurmatic.api.auth.oauth.client import ProviderClient
from neurmatic.api.auth.oauth.providers import Protocol, Provider, provider
from neurmatic.api.auth.oauth.state import RESTART, Started, StateStore, code_challenge
from neurmatic.api.auth.service import AuthService, Issued
from neurmatic.api.security.rate_limit import Limit
from neurmatic.api.state import AppClients
from neurmatic.errors import AuthenticationRequired

log = logging.getLogger("neurmatic.auth.oauth")


@dataclass(frozen=True)
class Callback:
    """What the provider sent the browser back with (all optional: anyone can call the callback)."""

    code: str | None
    state: str | None
    error: str | None
    binding: str | None  # the browser's binding cookie


def authorize_url(p: Provider, started: Started) -> str:
    params = {
        "response_type": "code",
        "client_id": p.client_id,
        "redirect_uri": p.redirect_uri,
        "scope": p.scopes,
        "state": started.state,
        "code_challenge": code_challenge(started.pending.code_verifier),
        "code_challenge_method": "S256",
    }
    if p.protocol is Protocol.OIDC:
        params["nonce"] = started.pending.nonce
    separator = "&" if "?" in p.endpoints.authorize else "?"
    return p.endpoints.authorize + separator + urlencode(params)


class OAuthService:
    def __init__(self, clients: AppClients) -> None:
        self.clients = clients
        self.settings = clients.settings
        self.states = StateStore(clients.redis)

    async def _limit(self, step: str, ip: str) -> None:
        await self.clients.limiter.enforce(
            f"oauth:{step}:ip",
            ip,
            Limit.parse(self.settings.oauth.rate_limit),
            "too many sign-in attempts from this address; try again later",
        )

    async def start(self, name: str, ip: str, binding: str | None) -> tuple[str, Started]:
        """The provider's authorization URL for a new sign-in, and the state it was given."""
        await self._limit("start", ip)
        p = provider(name, self.settings)
        started = await self.states.begin(p.name, binding)
        return authorize_url(p, started), started

    async def finish(
        self, name: str, callback: Callback, db: AsyncSession, *, ip: str, user_agent: str
    ) -> Issued:
        """Check the callback, exchange the code, find or create the user, and open a session.

        Users and links are flushed, not committed: the caller commits once the session is issued.
        """
        await self._limit("callback", ip)
        p = provider(name, self.settings)
        if callback.error:
            # The user said no, or the provider failed. Some providers omit the state here; when it is
            # present it is spent all the same, so no state outlives its one use.
            if callback.state:
                await self.states.discard(callback.state)
            log.info("provider returned an error", extra={"provider": p.name, "error": callback.error[:50]})
            if callback.error == "access_denied":
                raise AuthenticationRequired(f"sign-in with {p.label} was cancelled")
            raise AuthenticationRequired(f"{p.label} refused the sign-in; {RESTART}")
        if not callback.state:
            raise AuthenticationRequired(f"the answer from {p.label} has no state; {RESTART}")
        pending = await self.states.consume(callback.state, p.name, callback.binding)
        if not callback.code:
            raise AuthenticationRequired(f"the answer from {p.label} has no authorization code; {RESTART}")
        # One short-lived client per sign-in: it is rare, and no connection pool outlives the request.
        timeout = httpx.Timeout(self.settings.oauth.http_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, headers={"User-Agent": "Neurmatic"}) as http:
            provider_client = ProviderClient(p, http)
            tokens = await provider_client.exchange(callback.code, pending.code_verifier)
            identity = await provider_client.identity(tokens, pending.nonce)
        resolved = await resolve_user(db, p.name, p.label, identity)
        if resolved.credentials_reset:
            await self.clients.sessions.revoke_all(str(resolved.user.id))
            log.warning("unverified account claimed by provider sign-in", extra={"provider": p.name})
        if resolved.user.totp_enabled:
            # The provider vouches for the first factor only: an account with 2FA still needs its code.
            await db.commit()
            challenge = await open_challenge(self.clients.redis, str(resolved.user.id))
            raise AuthenticationRequired(
                "enter the code from your authenticator app at POST /api/v1/auth/2fa/challenge",
                details={"twoFactorRequired": True, "challenge": challenge},
            )
        return await AuthService(self.clients, db).issue(resolved.user, ip=ip, user_agent=user_agent)
