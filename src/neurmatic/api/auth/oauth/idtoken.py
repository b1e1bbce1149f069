"""OpenID Connect ID tokens: signature (the provider's published keys), issuer, audience, expiry, nonce.

The nonce we sent with the authorization request must come back inside the signed token: that ties the
token to this sign-in, so a token captured elsewhere cannot be replayed into it.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import jwt

from neurmatic.errors import AuthenticationRequired

# Asymmetric algorithms only: an HMAC or "none" token could be forged by anyone who knows the client id.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256"]
LEEWAY_SECONDS = 60  # clock skew between us and the provider


def verify_id_token(
    id_token: str, jwks: dict[str, Any], *, client_id: str, issuers: Sequence[str], nonce: str, label: str
) -> dict[str, Any]:
    """The token's claims once every check passes; AuthenticationRequired otherwise (our words only)."""
    rejected = AuthenticationRequired(
        f"the identity token from {label} is not valid; start the sign-in again"
    )
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        keys = jwt.PyJWKSet.from_dict(jwks).keys
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise rejected from exc
    # A key set holds several keys during a rotation; a token without ``kid`` may be signed by any of them.
    candidates = [key for key in keys if kid is None or key.key_id == kid]
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=ALGORITHMS,
                audience=client_id,
                issuer=list(issuers),
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise rejected from exc
    if claims is None:
        raise rejected
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise rejected
    return claims
