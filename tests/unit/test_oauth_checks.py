"""The pure checks of provider sign-in: ID tokens, PKCE and usernames derived from profiles."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from neurmatic.api.auth.oauth.accounts import username_base
from neurmatic.api.auth.oauth.idtoken import verify_id_token
from neurmatic.api.auth.oauth.state import code_challenge
from neurmatic.errors import AuthenticationRequired

ISSUER = "https://issuer.example"
CLIENT = "client-1"
NONCE = "nonce-1"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    return {
        "keys": [
            {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
            for kid, key in keys
        ]
    }


def _token(key: Any = KEY, algorithm: str = "RS256", kid: str | None = "a", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT, "sub": "user-1", "iat": now, "exp": now + 300, "nonce": NONCE}
    headers = {"kid": kid} if kid else None
    return jwt.encode({**body, **claims}, key, algorithm=algorithm, headers=headers)


def _verify(token: str, jwks: dict[str, Any] | None = None) -> dict[str, Any]:
    keys = jwks or _jwks(("a", KEY))
    return verify_id_token(token, keys, client_id=CLIENT, issuers=[ISSUER], nonce=NONCE, label="Test")


def test_a_valid_token_gives_its_claims_and_any_key_of_the_set_may_sign_without_kid() -> None:
    assert _verify(_token())["sub"] == "user-1"
    rotating = _jwks(("old", OTHER_KEY), ("new", KEY))
    assert _verify(_token(kid=None), rotating)["sub"] == "user-1"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_token(nonce="another sign-in"), id="nonce"),
        pytest.param(_token(aud="another-client"), id="audience"),
        pytest.param(_token(iss="https://evil.example"), id="issuer"),
        pytest.param(_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(_token(key=OTHER_KEY), id="signed-by-someone-else"),
        pytest.param(_token(key=CLIENT * 4, algorithm="HS256"), id="hmac-forgery"),
        pytest.param(_token(kid="unknown"), id="unknown-key"),
        pytest.param("not-a-token", id="garbage"),
    ],
)
def test_tokens_that_fail_any_check_are_refused_in_our_words(token: str) -> None:
    with pytest.raises(AuthenticationRequired, match="identity token from Test is not valid"):
        _verify(token)


def test_the_pkce_challenge_is_rfc_7636s_s256() -> None:
    # RFC 7636, appendix B.
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (("octocat", "The Octocat", "o"), "octocat"),
        ((None, "Zoë O'Brien-Smith", "zoe"), "Zoe_O_Brien-Smith"),
        ((None, "李", "__x.y+tag__"), "x_y_tag"),
        ((None, None, "ab"), "member"),
        (("x" * 80,), "x" * 40),
    ],
)
def test_usernames_derive_from_the_profile_and_fit_the_rules(
    candidates: tuple[str | None, ...], expected: str
) -> None:
    assert username_base(*candidates) == expected
