"""The providers' HTTP protocols: the code exchange (with the PKCE verifier) and who the user is.

Every failure is reported in our words: a provider's body can carry internals or user data, so it is
never echoed. A refusal (4xx, or GitHub's ``error`` field) means the sign-in must start again (401); an
unreachable, slow or confused provider is a dependency problem (503).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from neurmatic.api.auth.oauth.idtoken import verify_id_token
from neurmatic.api.auth.oauth.providers import Protocol, Provider
from neurmatic.api.auth.oauth.state import RESTART
from neurmatic.errors import AuthenticationRequired, ServiceUnavailable

log = logging.getLogger("neurmatic.auth.oauth")
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass(frozen=True)
class Identity:
    """Who the provider says the user is."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    username_hint: str | None


def _is_true(value: object) -> bool:
    # Some providers send the OIDC booleans as strings.
    return value is True or value == "true"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


class ProviderClient:
    def __init__(self, provider: Provider, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.http = http

    async def _json(self, method: str, url: str, *, refused: str, **kwargs: Any) -> Any:
        label = self.provider.label
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            log.warning(
                "provider unreachable", extra={"provider": self.provider.name, "error": type(exc).__name__}
            )
            raise ServiceUnavailable(f"{label} is not answering; try again later") from exc
        if response.status_code >= 500 or response.status_code == 429:
            log.warning(
                "provider failed", extra={"provider": self.provider.name, "status": response.status_code}
            )
            raise ServiceUnavailable(f"{label} is not available right now; try again later")
        if response.status_code >= 400:
            log.info(
                "provider refused", extra={"provider": self.provider.name, "status": response.status_code}
            )
            raise AuthenticationRequired(refused)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"{label} answered in an unexpected way; try again later") from exc

    async def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the authorization code for tokens, proving with the verifier that we asked for it."""
        p = self.provider
        body = await self._json(
            "POST",
            p.endpoints.token,
            refused=f"{p.label} did not accept this sign-in; {RESTART}",
            # client_secret_post: the one client authentication all three providers accept.
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": p.redirect_uri,
                "client_id": p.client_id,
                "client_secret": p.client_secret,
                "code_verifier": code_verifier,
            },
            headers={"Accept": "application/json"},  # GitHub answers form-encoded otherwise
        )
        # GitHub reports a bad code with 200 and an ``error`` field.
        if not isinstance(body, dict) or body.get("error") or not _text(body.get("access_token")):
            error = body.get("error") if isinstance(body, dict) else None
            log.info("code exchange refused", extra={"provider": p.name, "error": str(error)[:50]})
            raise AuthenticationRequired(f"{p.label} did not accept this sign-in; {RESTART}")
        return body

    async def identity(self, tokens: dict[str, Any], nonce: str) -> Identity:
        if self.provider.protocol is Protocol.GITHUB:
            return await self._github_identity(tokens["access_token"])
        return await self._oidc_identity(tokens, nonce)

    async def _user_json(self, url: str, access_token: str, headers: dict[str, str] | None = None) -> Any:
        return await self._json(
            "GET",
            url,
            refused=f"{self.provider.label} did not share your profile; {RESTART}",
            headers={"Authorization": f"Bearer {access_token}", **(headers or {})},
        )

    async def _oidc_identity(self, tokens: dict[str, Any], nonce: str) -> Identity:
        p = self.provider
        claims = await self._user_json(p.endpoints.userinfo, tokens["access_token"])
        if not isinstance(claims, dict) or not _text(claims.get("sub")):
            raise ServiceUnavailable(f"{p.label} answered in an unexpected way; try again later")
        id_token = tokens.get("id_token")
        if isinstance(id_token, str) and p.endpoints.jwks:
            jwks = await self._json("GET", p.endpoints.jwks, refused=f"{p.label} keys are unavailable")
            verified = verify_id_token(
                id_token,
                jwks if isinstance(jwks, dict) else {},
                client_id=p.client_id,
                issuers=p.endpoints.issuers,
                nonce=nonce,
                label=p.label,
            )
            # The userinfo answer must describe the user the signed token names.
            if verified["sub"] != claims["sub"]:
                raise AuthenticationRequired(f"{p.label} described two different users; {RESTART}")
        return Identity(
            subject=str(claims["sub"]),
            email=_text(claims.get("email")),
            email_verified=_is_true(claims.get("email_verified")),
            name=_text(claims.get("name")),
            username_hint=_text(claims.get("preferred_username")),
        )

    async def _github_identity(self, access_token: str) -> Identity:
        p = self.provider
        user = await self._user_json(p.endpoints.userinfo, access_token, GITHUB_HEADERS)
        emails = await self._user_json(p.endpoints.emails or "", access_token, GITHUB_HEADERS)
        if not isinstance(user, dict) or user.get("id") is None or not isinstance(emails, list):
            raise ServiceUnavailable(f"{p.label} answered in an unexpected way; try again later")
        # Only the primary address, and only once GitHub has verified it: a secondary or unverified one
        # could belong to someone else.
        primary = next(
            (e for e in emails if isinstance(e, dict) and e.get("primary") and _is_true(e.get("verified"))),
            None,
        )
        return Identity(
            subject=str(user["id"]),
            email=_text(primary.get("email")) if primary else None,
            email_verified=primary is not None,
            name=_text(user.get("name")),
            username_hint=_text(user.get("login")),
        )
