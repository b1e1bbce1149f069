"""Sessions live in Redis, shared by the instances: a token from one backend works on the other, and a
revocation takes effect on both at once. Driven through nginx, checked on each backend directly."""

from __future__ import annotations

import httpx

from tests.conftest import RunningTopology
from tests.support import access_token, bearer, register_and_login
from tests.upstreams import served_by


def _direct(topology: RunningTopology, backend: str) -> str:
    index = int(backend.rsplit("-", 1)[1])
    return f"http://127.0.0.1:{topology.state.ports.api(index)}"


def test_token_from_one_backend_works_on_the_other_and_revocation_is_instant(
    topology: RunningTopology,
) -> None:
    with topology.client() as client:
        email, login = register_and_login(client, "nginx")
        issued_by = served_by(topology, login)
        auth = bearer(access_token(login))
        other = "backend-2" if issued_by == "backend-1" else "backend-1"
        on_other = httpx.get(f"{_direct(topology, other)}/api/v1/users/me", headers=auth)
        assert on_other.status_code == 200 and on_other.json()["data"]["email"] == email
        served = {served_by(topology, client.get("/api/v1/users/me", headers=auth)) for _ in range(10)}
        assert served == {"backend-1", "backend-2"}
        logout = client.post("/api/v1/auth/logout", headers=auth)
        assert logout.status_code == 200
        for backend in ("backend-1", "backend-2"):
            refused = httpx.get(f"{_direct(topology, backend)}/api/v1/users/me", headers=auth)
            assert refused.status_code == 401, backend
        assert client.get("/api/v1/users/me", headers=auth).status_code == 401


def test_authenticated_responses_are_never_cached_by_nginx(topology: RunningTopology) -> None:
    with topology.client() as client:
        _, login = register_and_login(client, "cache")
        auth = bearer(access_token(login))
        statuses = {
            client.get("/api/v1/users/me", headers=auth).headers.get("x-cache-status") for _ in range(3)
        }
        anonymous = client.get("/api/v1/users/me")
    assert statuses <= {"BYPASS", None}
    assert anonymous.status_code == 401
