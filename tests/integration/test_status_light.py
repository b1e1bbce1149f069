"""`neurmatic status` answers from light probes: none of the full clients, templates or settings are
imported (each costs more to import than the round trip it would make), and the roles are still asked
of the servers."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import RunningTopology

HEAVY = ("psycopg", "redis", "httpx", "httpcore", "jinja2", "pydantic", "cryptography", "sqlalchemy")


def test_status_imports_none_of_the_heavy_libraries(topology: RunningTopology) -> None:
    probe = (
        "import sys\n"
        "from neurmatic.ops.cli import cli\n"
        "try:\n"
        f"    cli.main(['status', '--json', '--state-dir', {str(topology.state_dir)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "[]", result.stderr
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert all(s["state"] == "ready" for s in services.values()), services
    # Whichever node a failover test left in which role: one of each, as the servers say.
    assert sorted(services[f"postgres-{i}"]["role"] for i in (1, 2)) == ["primary", "standby"]
    assert sorted(services[f"redis-{i}"]["role"] for i in (1, 2)) == ["master", "replica"]
    assert services["worker"]["role"] == "worker" and services["nginx"]["role"] == "lb"
