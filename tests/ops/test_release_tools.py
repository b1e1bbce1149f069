"""Building a release beside the others, and telling Slack (against a local webhook receiver)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from neurmatic.deployment.releases import DeployFailed
from neurmatic.ops.flows.monitoring.notify import SlackNotifier
from neurmatic.supervisor.layout import Paths
from neurmatic.supervisor.release_build import build_release
from neurmatic.supervisor.state import ServiceAccount
from tests.support import make_state_parent, port_is_free

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


@pytest.fixture
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding a one-file ``neurmatic`` package, tagged v1; v2 is only in the work tree."""
    repo = make_state_parent(tmp_path_factory, "tiny-repo") / "repo"
    (repo / "src" / "neurmatic").mkdir(parents=True)
    (repo / "src" / "neurmatic" / "__init__.py").write_text('RELEASE = "v1"\n')
    (repo / "pyproject.toml").write_text("[project]\nname = 'neurmatic'\n")
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "--quiet", "-m", "v1"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "tag", "v1"], check=True)
    (repo / "src" / "neurmatic" / "__init__.py").write_text('RELEASE = "uncommitted"\n')
    return repo


def test_a_release_is_the_commit_with_its_own_environment(
    tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = Paths(make_state_parent(tmp_path_factory, "releases") / "state")
    paths.root.mkdir()
    account = ServiceAccount.for_current_process()
    built = build_release(paths, account, "v1", tiny_repo, None, lambda _m: None)
    assert built.path == paths.release_dir("v1") and built.commit and len(built.commit) == 40
    python = paths.release_python("v1")
    code = "import neurmatic, uvicorn; print(neurmatic.RELEASE, neurmatic.__file__)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [
        "v1",
        str(built.path / "src" / "neurmatic" / "__init__.py"),
    ]  # the commit, not the work tree
    assert not (paths.releases / ".v1.building").exists()
    for path in [
        built.path,
        *built.path.rglob("*"),
    ]:  # readable by the service account, writable by nobody else
        if not path.is_symlink():
            assert path.stat().st_mode & 0o004 and not path.stat().st_mode & 0o022, path
    with pytest.raises(DeployFailed, match="not a commit"):
        build_release(paths, account, "v9", tiny_repo, None, lambda _m: None)
    by_ref = build_release(paths, account, "v1-again", tiny_repo, "HEAD", lambda _m: None)
    assert by_ref.commit == built.commit and by_ref.source == f"{tiny_repo}@HEAD"


def test_a_directory_that_is_not_a_repository_is_copied(
    tiny_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    plain = make_state_parent(tmp_path_factory, "plain") / "tree"
    (plain / "src" / "neurmatic").mkdir(parents=True)
    (plain / "src" / "neurmatic" / "__init__.py").write_text('RELEASE = "dir"\n')
    (plain / "src" / "neurmatic" / "__pycache__").mkdir()
    paths = Paths(make_state_parent(tmp_path_factory, "releases") / "state")
    paths.root.mkdir()
    built = build_release(paths, ServiceAccount.for_current_process(), "d1", plain, None, lambda _m: None)
    assert built.commit is None and built.source == str(plain)
    (plain / "src" / "neurmatic" / "__init__.py").unlink()
    with pytest.raises(DeployFailed, match="no src/neurmatic"):
        build_release(paths, ServiceAccount.for_current_process(), "d2", plain, None, lambda _m: None)


class _Webhook(HTTPServer):
    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.bodies: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                time.sleep(delay)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def webhook(request: pytest.FixtureRequest) -> Iterator[_Webhook]:
    server = _Webhook(*getattr(request, "param", (200, 0.0)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_slack_gets_the_text_as_json(webhook: _Webhook) -> None:
    assert SlackNotifier(webhook.url).send("deployed v2") is None
    assert webhook.bodies == [{"text": "deployed v2"}]


@pytest.mark.parametrize("webhook", [(500, 0.0)], indirect=True)
def test_a_refusing_webhook_is_a_warning_not_an_error(webhook: _Webhook) -> None:
    assert SlackNotifier(webhook.url).send("x") == "Slack was not told (the webhook answered 500)"


@pytest.mark.parametrize("webhook", [(200, 2.0)], indirect=True)
def test_a_slow_webhook_costs_at_most_its_timeout(webhook: _Webhook) -> None:
    started = time.monotonic()
    problem = SlackNotifier(webhook.url, timeout=0.3).send("x")
    assert problem and "ReadTimeout" in problem and time.monotonic() - started < 1.5


def test_an_unreachable_webhook_or_none_at_all() -> None:
    port = next(p for p in range(29100, 29200) if port_is_free(p))
    problem = SlackNotifier(f"http://127.0.0.1:{port}/hook", timeout=1).send("x")
    assert problem == "Slack was not told (ConnectError)"
    assert SlackNotifier(None).send("x") is None
