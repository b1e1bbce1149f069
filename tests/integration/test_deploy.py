"""Zero-downtime deploys, rollbacks and scaling on a real topology, under continuous load through nginx.

This module runs its own topology (deploys switch its releases). The releases come from a temporary clone
of this repository: ``v1`` is its HEAD, ``v2`` adds a nullable column (an expanding migration), ``v3`` breaks
the app at startup, ``v4`` drops the column (a contracting migration), ``v5`` is ``v2`` with a text file
added (a release without migrations), ``v6`` is ``v5`` with a new dependency. Tests run in file order.

The load opens a new connection for each request: an nginx reload closes idle keep-alive connections,
and a request racing that close fails on a keep-alive client (browsers retry it; httpx does not), which
says nothing about the deploy.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from neurmatic.deployment.resolve import local_deployment
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.monitoring.health import checks_for
from neurmatic.ops.flows.releases.history import ReleaseHistory
from neurmatic.supervisor import runner
from neurmatic.supervisor.layout import MONITORING_USER
from neurmatic.supervisor.process import PidFile
from neurmatic.supervisor.services.postgres import app_connection
from tests.conftest import RunningTopology, started_topology
from tests.support import ROOT, bearer, make_state_parent, neurmatic, signed_in_token
from tests.upstreams import served_by

GIT = ["git", "-c", "user.name=Deploy Test", "-c", "user.email=deploy@example.com"]
NEW_DEPENDENCY = "appdirs>=1.4"  # in the package index, not in the project's environment


class SlackReceiver(HTTPServer):
    """A local incoming webhook: records each JSON body posted to it."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.messages.append(json.loads(body)["text"])
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T000/B000/XXXX"


class Load:
    """Steady traffic through nginx from two threads: reads (health, article lists) and writes (articles)."""

    def __init__(self, topology: RunningTopology, token: str) -> None:
        self.topology, self.token = topology, token
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._reads), threading.Thread(target=self._writes)]
        self.lock = threading.Lock()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _record(self, what: str, send: Callable[[], httpx.Response], expected: int) -> None:
        try:
            response = send()
            status: int | str = response.status_code
            detail = f"{status} (request {response.headers.get('x-request-id')}): {response.text[:200]}"
        except httpx.HTTPError as exc:
            status = detail = type(exc).__name__
        with self.lock:
            self.counts["total"] += 1
            if status == expected:
                self.counts["ok"] += 1
            else:
                self.counts["failed"] += 1
                self.failures.append(f"{time.strftime('%H:%M:%S')} {what}: {detail}")

    def _reads(self) -> None:
        with self.topology.client(headers={"Connection": "close"}) as client:
            n = 0
            while not self.stopping.is_set():
                n += 1
                path = f"/api/v1/articles?limit=5&page={n % 50 + 1}" if n % 6 == 0 else "/api/v1/health/ready"
                self._record(f"GET {path}", partial(client.get, path), 200)
                time.sleep(0.03)

    def _writes(self) -> None:
        auth = {**bearer(self.token), "Connection": "close"}
        with self.topology.client(headers=auth) as client:
            while not self.stopping.is_set():
                body = {"title": f"Written during a deploy {uuid.uuid4().hex[:8]}", "bodyHtml": "<p>hi</p>"}
                self._record(
                    "POST /api/v1/articles", partial(client.post, "/api/v1/articles", json=body), 201
                )
                time.sleep(0.3)

    def report(self, phase: str) -> str:
        counts = self.counts
        line = f"load during {phase}: total={counts['total']} ok={counts['ok']} failed={counts['failed']}"
        print(line)
        return line


def _migration(path: Path, revision: str, down: str, body: str) -> None:
    path.write_text(
        f'"""Deploy test."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{revision}"\n'
        f'down_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n'
        f"    {body}\n"
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository's HEAD (tagged v1) with v2 (expand), v3 (broken app), v4 (contract) on top.

    The releases come from commits, never from this work tree, which other work may be changing meanwhile.
    """
    clone = make_state_parent(tmp_path_factory, "deploy-repo") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run([*GIT, "-C", str(clone), "tag", "v1"], check=True)
    migrations = clone / "src" / "neurmatic" / "db" / "migrations"
    head = ScriptDirectory(str(migrations)).get_current_head()
    assert head

    def commit(message: str, tag: str) -> None:
        subprocess.run([*GIT, "-C", str(clone), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(clone), "commit", "--quiet", "-m", message], check=True)
        subprocess.run([*GIT, "-C", str(clone), "tag", tag], check=True)

    note = 'op.add_column("articles", sa.Column("deploy_note", sa.String(200), nullable=True))'
    _migration(migrations / "versions" / "dpl1_deploy_note.py", "dpl1", head, note)
    commit("an expanding migration", "v2")
    with (clone / "src" / "neurmatic" / "api" / "app.py").open("a") as app:
        app.write("\n\ndef create_app(settings: Settings) -> FastAPI:  # noqa: F811\n")
        app.write('    raise RuntimeError("this release is broken on purpose")\n')
    commit("a release whose app fails at startup", "v3")
    drop = 'op.drop_column("articles", "deploy_note")'
    _migration(migrations / "versions" / "dpl2_drop_note.py", "dpl2", "dpl1", drop)
    commit("a contracting migration", "v4")
    subprocess.run([*GIT, "-C", str(clone), "switch", "--quiet", "-c", "maintenance", "v2"], check=True)
    (clone / "RELEASE-NOTES.txt").write_text("v5: a release on v2's schema\n")
    commit("a release without migrations", "v5")
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('    "a2wsgi', f'    "{NEW_DEPENDENCY}",\n    "a2wsgi', 1)
    )
    with (clone / "src" / "neurmatic" / "__init__.py").open("a") as package:
        package.write("\nimport appdirs  # noqa: E402,F401 - a dependency only this release has\n")
    commit("a release with a new dependency", "v6")
    return clone


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


@pytest.fixture(scope="module")
def own_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "deploy") as running:
        yield running


@pytest.fixture(scope="module")
def token(own_topology: RunningTopology) -> str:
    with own_topology.client() as client:
        return signed_in_token(client, "deploy")


def cli(topology: RunningTopology, slack: SlackReceiver, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, with the Slack webhook in its environment (as operators set it)."""
    return neurmatic(*args, state_dir=topology.state_dir, check=False, env={"SLACK_WEBHOOK_URL": slack.url})


def _processes(topology: RunningTopology) -> dict[str, str]:
    """Each API instance's and the worker's command line, as the kernel has it."""
    lines: dict[str, str] = {}
    for name in ("backend-1", "backend-2", "worker"):
        pid = PidFile(topology.state.paths.pidfile(name)).running_pid()
        lines[name] = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") if pid else "(stopped)"
    return lines


def _columns(topology: RunningTopology) -> set[str]:
    with app_connection(topology.state, 1) as conn:
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = 'articles'"
        rows = conn.execute(query)
        return {str(row[0]) for row in rows}


# The API's JSON lines (compact or not) with an error level or a 5xx status, and nginx's error levels.
_SERVER_ERROR = re.compile(r'"level": ?"error"|"status": ?5|\[(?:error|crit|alert)\]')


def _failures(load: Load, topology: RunningTopology) -> str:
    """The failed requests, with what the servers logged as errors (for the assertion message)."""
    logs = [*sorted((topology.state_dir / "logs").glob("*.log")), topology.state_dir / "nginx/logs/error.log"]
    logged = [
        line
        for path in logs
        for line in path.read_text(errors="replace").splitlines()
        if _SERVER_ERROR.search(line)
    ]
    return "\n".join([*load.failures[:10], "server errors:", *logged[-20:]])


def _history(topology: RunningTopology) -> ReleaseHistory:
    return ReleaseHistory.load(topology.state.paths.release_history)


def _runs(topology: RunningTopology, version: str) -> bool:
    """Every API instance and the worker runs ``version``'s interpreter."""
    python = topology.state_dir / "releases" / version / "venv" / "bin" / "python"
    return all(line.startswith(f"{python} -m neurmatic") for line in _processes(topology).values())


def test_deploys_under_load_fail_no_request(
    own_topology: RunningTopology, slack: SlackReceiver, repo: Path, token: str
) -> None:
    with Load(own_topology, token) as load:
        time.sleep(0.5)
        first = cli(own_topology, slack, "deploy", "v1", "--source", str(repo), "--json")
        assert first.returncode == 0, first.stdout + first.stderr
        assert _runs(own_topology, "v1")
        second = cli(own_topology, slack, "deploy", "v2", "--source", str(repo), "--json")
        time.sleep(0.5)
    load.report("deploy v1, then deploy v2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert load.counts["failed"] == 0 and load.counts["ok"] > 200, _failures(load, own_topology)
    for result in (first, second):
        record = json.loads(result.stdout)
        print(f"deploy {record['version']} took {record['durations']['total']:.1f}s: {record['durations']}")
    assert record["status"] == "deployed" and Path(record["backup"]).exists() and len(record["commit"]) == 40
    assert record["replaced"] == "v1"
    assert "deploy_note" in _columns(own_topology)  # the expanding migration ran before traffic moved
    assert _runs(own_topology, "v2")
    assert _history(own_topology).current == "v2"


def test_rollback_under_load_fails_no_request(
    own_topology: RunningTopology, slack: SlackReceiver, token: str
) -> None:
    with Load(own_topology, token) as load:
        time.sleep(0.5)
        rolled = cli(own_topology, slack, "rollback", "--json")
        time.sleep(0.5)
    load.report("rollback from v2 to v1")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert load.counts["failed"] == 0 and load.counts["ok"] > 100, _failures(load, own_topology)
    outcome = json.loads(rolled.stdout)
    print(f"rollback took {outcome['duration_seconds']:.1f}s")
    assert outcome["from"] == "v2" and outcome["to"] == "v1"
    assert _runs(own_topology, "v1")
    history = _history(own_topology)
    assert history.current == "v1" and (record := history.find("v2")) and record.status == "rolled-back"
    assert "deploy_note" in _columns(own_topology)  # the older code runs on the expanded schema


def test_a_release_that_never_gets_ready_is_rolled_back_by_itself(
    own_topology: RunningTopology, slack: SlackReceiver, repo: Path, token: str
) -> None:
    before = _processes(own_topology)
    with Load(own_topology, token) as load:
        time.sleep(0.5)
        broken = cli(own_topology, slack, "deploy", "v3", "--source", str(repo), "--ready-timeout", "20")
        time.sleep(0.5)
    load.report("the failed deploy of v3 and its automatic rollback")
    print(next(line for line in broken.stderr.splitlines() if line.startswith("error:")))
    assert broken.returncode == ExitCode.ROLLED_BACK, broken.stdout + broken.stderr
    assert "never became ready" in broken.stderr and "rolled back" in broken.stderr
    assert load.counts["failed"] == 0 and load.counts["ok"] > 50, _failures(load, own_topology)
    assert _processes(own_topology)["worker"] == before["worker"]  # the worker was never touched
    assert _runs(own_topology, "v1")
    listed = cli(own_topology, slack, "releases", "--json")
    history = json.loads(listed.stdout)
    assert history["current"] == "v1"
    assert [(r["version"], r["status"], r["current"]) for r in history["releases"]] == [
        ("v3", "failed", False),
        ("v2", "rolled-back", False),
        ("v1", "deployed", True),
    ]


def test_a_migration_that_drops_a_column_is_refused_and_rolled_back(
    own_topology: RunningTopology, slack: SlackReceiver, repo: Path
) -> None:
    before = _processes(own_topology)
    refused = cli(own_topology, slack, "deploy", "v4", "--source", str(repo))
    assert refused.returncode == ExitCode.SCHEMA_REFUSED, refused.stdout + refused.stderr
    assert "articles.deploy_note was dropped" in refused.stderr
    assert "deploy_note" in _columns(own_topology)
    with app_connection(own_topology.state, 1) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("dpl1",)
    assert _processes(own_topology) == before  # nothing was switched


def test_scale_api_to_three_and_back_to_two(own_topology: RunningTopology, slack: SlackReceiver) -> None:
    up = cli(own_topology, slack, "scale", "api", "3", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert own_topology.state.api_instances == 3
    assert own_topology.status()["backend-3"]["state"] == "ready"
    with own_topology.client() as client:
        # /users/me (401 when anonymous): never cached, and logged by nginx with the instance it used
        served = {served_by(own_topology, client.get("/api/v1/users/me")) for _ in range(18)}
    assert served == {"backend-1", "backend-2", "backend-3"}
    assert "backend-3" in checks_for(
        local_deployment(own_topology.state_dir), own_topology.state_dir / "backups"
    )  # `neurmatic health`
    _await_scraped_instances(own_topology, {"backend-1", "backend-2", "backend-3"})
    down = cli(own_topology, slack, "scale", "api", "2", "--json")
    assert down.returncode == 0, down.stdout + down.stderr
    assert own_topology.state.api_instances == 2
    assert "backend-3" not in {service.name for service in runner.status(own_topology.state)}
    assert PidFile(own_topology.state.paths.pidfile("backend-3")).running_pid() is None
    with own_topology.client() as client:
        served = {served_by(own_topology, client.get("/api/v1/users/me")) for _ in range(12)}
    assert served == {"backend-1", "backend-2"}
    _await_scraped_instances(own_topology, {"backend-1", "backend-2"})


def _await_scraped_instances(topology: RunningTopology, expected: set[str]) -> None:
    """Prometheus scrapes exactly these API instances (scale reloads its targets)."""
    state = topology.state
    url = f"http://127.0.0.1:{state.ports.prometheus}/api/v1/targets?state=active"
    auth = (MONITORING_USER, state.secrets["MONITORING_PASSWORD"])
    deadline = time.monotonic() + 30
    while True:
        targets = httpx.get(url, auth=auth, timeout=5).json()["data"]["activeTargets"]
        scraped = {t["labels"].get("service") for t in targets if t["labels"]["job"] == "api"}
        if scraped == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert scraped == expected


def _post_article(topology: RunningTopology, token: str, title: str) -> None:
    with topology.client(headers=bearer(token)) as client:
        created = client.post("/api/v1/articles", json={"title": title, "bodyHtml": "<p>hi</p>"})
        assert created.status_code == 201, created.text


def _titles(topology: RunningTopology, *titles: str) -> set[str]:
    with app_connection(topology.state, 1) as conn:
        rows = conn.execute("SELECT title FROM articles WHERE title = ANY(%s)", [list(titles)])
        return {str(row[0]) for row in rows}


def test_rollback_with_restore_db_brings_back_the_data_of_before_the_deploy(
    own_topology: RunningTopology, slack: SlackReceiver, repo: Path, token: str
) -> None:
    kept, lost = f"before v5 {uuid.uuid4().hex[:8]}", f"written by v5 {uuid.uuid4().hex[:8]}"
    _post_article(own_topology, token, kept)
    deployed = cli(own_topology, slack, "deploy", "v5", "--source", str(repo), "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    pre_deploy_backup = json.loads(deployed.stdout)["backup"]
    _post_article(own_topology, token, lost)
    assert _titles(own_topology, kept, lost) == {kept, lost}

    refused = cli(own_topology, slack, "rollback", "--restore-db")  # data loss needs --yes
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert _titles(own_topology, kept, lost) == {kept, lost} and _history(own_topology).current == "v5"

    rolled = cli(own_topology, slack, "rollback", "--restore-db", "--yes", "--json")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    outcome = json.loads(rolled.stdout)
    print(f"rollback --restore-db took {outcome['duration_seconds']:.1f}s")
    assert (outcome["from"], outcome["to"], outcome["restored_backup"]) == ("v5", "v1", pre_deploy_backup)
    assert _titles(own_topology, kept, lost) == {kept}  # the database is as it was before v5 went live
    assert _runs(own_topology, "v1")
    with own_topology.client() as client:
        assert client.get("/api/v1/health/ready").status_code == 200
    health = neurmatic("health", "--json", state_dir=own_topology.state_dir, check=False)
    assert health.returncode == 0, health.stdout + health.stderr


def test_a_release_with_a_new_dependency_gets_it_in_its_own_environment(
    own_topology: RunningTopology, slack: SlackReceiver, repo: Path
) -> None:
    assert importlib.util.find_spec("appdirs") is None, "the project's environment must not have it"
    deployed = cli(own_topology, slack, "deploy", "v6", "--source", str(repo), "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    record = json.loads(deployed.stdout)
    print(f"deploy v6 (installing {NEW_DEPENDENCY}) took {record['durations']['total']:.1f}s")
    assert record["dependencies_installed"] == [NEW_DEPENDENCY]
    assert _runs(own_topology, "v6")  # every instance and the worker import it at start
    python = own_topology.state_dir / "releases" / "v6" / "venv" / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import appdirs; print(appdirs.__file__)"], capture_output=True, text=True
    )
    assert where.returncode == 0 and where.stdout.startswith(str(python.parents[1])), where.stderr
    v5 = own_topology.state_dir / "releases" / "v5" / "venv" / "bin" / "python"
    assert subprocess.run([v5, "-c", "import appdirs"], capture_output=True, check=False).returncode != 0
    assert importlib.util.find_spec("appdirs") is None  # the main environment is untouched


def test_slack_heard_of_every_deploy_and_rollback(slack: SlackReceiver) -> None:
    messages = "\n".join(slack.messages)
    print(messages)
    assert ":rocket: neurmatic v1" in messages and ":rocket: neurmatic v2" in messages
    assert "rolled back from v2 to v1" in messages
    assert "deploy of v3 failed" in messages and "rolled back to v1 automatically" in messages
    assert "deploy of v4 refused" in messages
    assert "database restored from" in messages
