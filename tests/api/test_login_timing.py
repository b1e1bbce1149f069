"""Sign-in timing does not tell which emails are registered: every password check does the work of one
bcrypt hash at BCRYPT_ROUNDS, whether the email is unknown, the account has no password (OAuth only), or
its hash was made at another cost. Asserted by the cost factors of the hashes checked, never by time (the
timings are measured by ``./dev bench login``)."""

from __future__ import annotations

import bcrypt
import pytest

from neurmatic.domain.users import passwords
from neurmatic.settings import Settings
from tests.api.accounts import account_client, fast_settings, login, new_account, register
from tests.conftest import RunningTopology


def _work(plan: list[bytes]) -> int:
    """bcrypt iterations of checking a password against each hash of ``plan``."""
    return sum(2 ** passwords.hash_rounds(h) for h in plan)


@pytest.mark.parametrize("rounds", [4, 6, 8])
@pytest.mark.parametrize("stored", [None, "", "not-a-bcrypt-hash"])
def test_an_email_without_a_usable_hash_is_checked_against_a_dummy_at_the_configured_cost(
    rounds: int, stored: str | None
) -> None:
    plan = passwords.verification_plan(stored, rounds)
    assert [passwords.hash_rounds(h) for h in plan] == [rounds]


@pytest.mark.parametrize("made_at", [4, 5, 7, 8])
def test_a_stored_hash_is_checked_first_and_topped_up_to_the_configured_cost(made_at: int) -> None:
    rounds = 8
    stored = bcrypt.hashpw(b"Correct-Horse-Battery-9", bcrypt.gensalt(rounds=made_at)).decode()
    plan = passwords.verification_plan(stored, rounds)
    assert plan[0] == stored.encode()
    assert _work(plan) == 2**rounds == _work(passwords.verification_plan(None, rounds))


async def test_verification_answers_only_for_the_stored_hash() -> None:
    weak = bcrypt.hashpw(b"Correct-Horse-Battery-9", bcrypt.gensalt(rounds=4)).decode()
    assert await passwords.verify_password("Correct-Horse-Battery-9", weak, 6)
    assert not await passwords.verify_password("Wrong-Horse-Battery-9", weak, 6)
    # the dummy's own password never signs in to an account without one
    assert not await passwords.verify_password("neurmatic-timing-equaliser", None, 4)


async def test_a_hash_of_another_cost_is_remade_at_bcrypt_rounds_on_sign_in(
    settings: Settings, topology: RunningTopology
) -> None:
    """Up for strength, and down as well: a costlier hash than the dummy's would be slower to check."""
    account = new_account()
    async with account_client(fast_settings(settings, bcrypt_rounds=6)) as client:
        assert (await register(client, account)).status_code == 201
    costs = []
    for rounds in (5, 7):
        async with account_client(fast_settings(settings, bcrypt_rounds=rounds)) as client:
            assert (await login(client, account)).status_code == 200
        with topology.superuser("neurmatic_production") as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE email = %s", (account.email,)
            ).fetchone()
        assert row is not None
        costs.append(passwords.hash_rounds(row[0]))
    assert costs == [5, 7]


async def test_an_account_without_a_password_answers_like_an_unknown_email(
    settings: Settings, topology: RunningTopology
) -> None:
    account = new_account()
    async with account_client(settings) as client:
        assert (await register(client, account)).status_code == 201
        with topology.superuser("neurmatic_production") as conn:  # as an OAuth-only account has it
            conn.execute("UPDATE users SET password_hash = NULL WHERE email = %s", (account.email,))
        no_password = await login(client, account)
        account.email = new_account().email
        unknown = await login(client, account)
    assert no_password.status_code == unknown.status_code == 401
    assert no_password.json()["error"] == unknown.json()["error"]
