"""An administrator opens the job dashboard in a browser, through nginx, with the cookie sign-in."""

from __future__ import annotations

import re

from tests.api.accounts import create_admin
from tests.conftest import RunningTopology


def test_admin_dashboard_through_nginx(topology: RunningTopology) -> None:
    admin, _ = create_admin(topology.state_dir)
    with topology.client() as browser:
        redirected = browser.get("/admin/queues/")
        form = browser.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = browser.post(
            "/admin/login", data={"email": admin.email, "password": admin.password, "csrf": csrf.group(1)}
        )
        page = browser.get("/admin/queues/")
        workers = browser.get("/admin/queues/0/data/workers.json")
    assert redirected.status_code == 303
    assert signed.status_code == 303 and "neurmatic_access" in browser.cookies
    assert page.status_code == 200 and "RQ" in page.text
    assert page.headers.get("x-cache-status") in (None, "BYPASS")
    assert len(page.headers.get_list("content-security-policy")) == 1
    assert workers.status_code == 200 and len(workers.json()["workers"]) >= 1
