"""Which API instance answered a request that nginx relayed, and the health report through the edge.

The instances name themselves (``X-Served-By``, the report's ``instance``) only to the internal network
and to administrators, so through the edge the answer comes from nginx's access log: the line whose
``id=`` is the response's ``X-Request-ID`` names the upstream address (the last one, when nginx had to
retry on another instance). nginx does not log health probes: for those, ask as an administrator.
"""

from __future__ import annotations

import re
import time

import httpx

from neurmatic.supervisor.layout import HOST
from tests.api.accounts import create_admin
from tests.conftest import RunningTopology
from tests.support import access_token, bearer

_UPSTREAM = re.compile(r" upstream=(?P<tried>.*?) cache=")


def served_by(topology: RunningTopology, response: httpx.Response, *, timeout: float = 10.0) -> str:
    """``backend-N`` that answered ``response`` (nginx writes the log line just after the answer)."""
    state = topology.state
    names = {f"{HOST}:{state.ports.api(i)}": f"backend-{i}" for i in range(1, state.api_instances + 1)}
    marker = f" id={response.headers['x-request-id']} "
    log = state.paths.nginx / "logs" / "access.log"
    deadline = time.monotonic() + timeout
    while True:
        for line in reversed(log.read_text(errors="replace").splitlines()):
            if marker in line and (match := _UPSTREAM.search(line)):
                tried = [part.strip() for part in re.split(r",| : ", match["tried"]) if part.strip()]
                return names.get(tried[-1], tried[-1])
        assert time.monotonic() < deadline, f"nginx logged no request{marker}"
        time.sleep(0.05)


def admin_headers(topology: RunningTopology) -> dict[str, str]:
    """A new administrator's bearer header (signed in on an instance directly: nginx's sign-in rate
    limit is for the public, and the test session shares one client address)."""
    admin, _ = create_admin(topology.state_dir)
    login = httpx.post(
        f"http://{HOST}:{topology.state.ports.api(1)}/api/v1/auth/login",
        json={"email": admin.email, "password": admin.password},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    return bearer(access_token(login))
