"""Access tokens verified once are remembered until they expire, and never past it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from neurmatic.api.auth.tokens import TokenCodec
from neurmatic.errors import AuthenticationRequired
from neurmatic.settings import AuthSettings


def _codec(ttl: timedelta) -> TokenCodec:
    settings = AuthSettings.model_validate(
        {"JWT_SECRET": "s" * 64, "JWT_REFRESH_SECRET": "r" * 64, "JWT_EXPIRES_IN": ttl}
    )
    return TokenCodec(settings)


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    codec = _codec(timedelta(seconds=1))
    token = codec.access_token("user-1", "session-1", "user")
    assert codec.decode_access(token).session_id == "session-1"
    assert codec.decode_access(token).session_id == "session-1"  # from memory
    time.sleep(1.2)
    with pytest.raises(AuthenticationRequired, match="expired"):
        codec.decode_access(token)


def test_a_token_signed_with_another_key_is_refused_even_after_a_valid_one() -> None:
    codec, other = (
        _codec(timedelta(minutes=5)),
        TokenCodec(AuthSettings.model_validate({"JWT_SECRET": "x" * 64, "JWT_REFRESH_SECRET": "y" * 64})),
    )
    good = codec.access_token("user-1", "session-1", "user")
    forged = other.access_token("user-1", "session-1", "user")
    codec.decode_access(good)
    with pytest.raises(AuthenticationRequired, match="not valid"):
        codec.decode_access(forged)
