"""Where each provider's endpoints are and how to reach them, from the settings.

Google and LinkedIn speak OpenID Connect (an ID token plus a userinfo endpoint whose claims include
``email_verified``); GitHub speaks plain OAuth 2 and its REST API (``/user``, ``/user/emails``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from neurmatic.errors import NotFound
from neurmatic.settings import OAuthSettings, Settings

CALLBACK_PATH = "/api/v1/auth/oauth/{provider}/callback"


class Protocol(StrEnum):
    OIDC = "oidc"
    GITHUB = "github"


@dataclass(frozen=True)
class Endpoints:
    """The URLs of one provider (production by default, overridable in the settings)."""

    authorize: str
    token: str
    userinfo: str
    # OpenID Connect only: where the ID token's signing keys are, and who may have issued it.
    jwks: str | None = None
    issuers: tuple[str, ...] = ()
    # GitHub only: the list of the user's addresses, to find the primary verified one.
    emails: str | None = None


@dataclass(frozen=True)
class Provider:
    """A provider that this server is configured to use."""

    name: str
    label: str
    protocol: Protocol
    scopes: str
    endpoints: Endpoints
    client_id: str
    client_secret: str
    redirect_uri: str


def _google(oauth: OAuthSettings) -> Endpoints:
    issuers: tuple[str, ...] = (oauth.google_issuer,)
    if oauth.google_issuer == "https://accounts.google.com":
        # Google documents both spellings of its issuer in ID tokens.
        issuers += ("accounts.google.com",)
    return Endpoints(
        authorize=oauth.google_authorize_url,
        token=oauth.google_token_url,
        userinfo=oauth.google_userinfo_url,
        jwks=oauth.google_jwks_url,
        issuers=issuers,
    )


def _linkedin(oauth: OAuthSettings) -> Endpoints:
    return Endpoints(
        authorize=oauth.linkedin_authorize_url,
        token=oauth.linkedin_token_url,
        userinfo=oauth.linkedin_userinfo_url,
        jwks=oauth.linkedin_jwks_url,
        issuers=(oauth.linkedin_issuer,),
    )


def _github(oauth: OAuthSettings) -> Endpoints:
    api = oauth.github_api_url.rstrip("/")
    return Endpoints(
        authorize=oauth.github_authorize_url,
        token=oauth.github_token_url,
        userinfo=f"{api}/user",
        emails=f"{api}/user/emails",
    )


_OIDC_SCOPES = "openid email profile"
_KNOWN = {
    "google": ("Google", Protocol.OIDC, _OIDC_SCOPES, _google),
    "linkedin": ("LinkedIn", Protocol.OIDC, _OIDC_SCOPES, _linkedin),
    "github": ("GitHub", Protocol.GITHUB, "read:user user:email", _github),
}
PROVIDER_NAMES = tuple(_KNOWN)


def configured_providers(settings: Settings) -> list[str]:
    """The providers this server can sign in with (client id and secret set), in a stable order."""
    return [
        name
        for name in PROVIDER_NAMES
        if (configured := settings.oauth.provider(name)).client_id and configured.client_secret
    ]


def provider(name: str, settings: Settings) -> Provider:
    """The configured provider called ``name``; NotFound when unknown or not configured here."""
    known = _KNOWN.get(name)
    if known is None:
        raise NotFound(f"unknown sign-in provider {name!r}: use one of {', '.join(PROVIDER_NAMES)}")
    label, protocol, scopes, endpoints = known
    configured = settings.oauth.provider(name)
    if not (configured.client_id and configured.client_secret):
        raise NotFound(f"sign-in with {label} is not available on this server")
    # Without an explicit callback URL, the one this API serves under its public URL.
    redirect_uri = configured.callback_url or (
        settings.app.api_url.rstrip("/") + CALLBACK_PATH.format(provider=name)
    )
    return Provider(
        name=name,
        label=label,
        protocol=protocol,
        scopes=scopes,
        endpoints=endpoints(settings.oauth),
        client_id=configured.client_id,
        client_secret=configured.client_secret.get_secret_value(),
        redirect_uri=redirect_uri,
    )
