"""The API as its OpenAPI document describes it, through nginx: schemathesis generates requests from
``/api/openapi.json`` (examples, boundary values, fuzzing, and stateful sequences over the links it
finds), anonymous and signed in, and every answer, whoever produced it (the app or nginx), must be
documented: no server error, no undocumented status, 405 with ``Allow`` for an undeclared method.

A topology of its own: the run creates articles, categories and uploads, and spends nginx's per-client
budgets, which must not disturb the other tests. Bounded in time and requests; ``--rate-limit`` keeps it
under nginx's 10 requests/s per client (429s are documented but test nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningTopology, started_topology
from tests.support import require_binary, signed_in_token

CHECKS = "not_a_server_error,status_code_conformance,unsupported_method"
MAX_EXAMPLES = 30  # per operation and phase
MAX_SECONDS = 150  # per run; two runs (anonymous, signed in)
RATE = "9/s"
MIN_REQUESTS = 500  # per run: fewer means the run was cut short
SEED = 20261126  # fixed, so a failure in CI reproduces (`st replay` also names each case)


@pytest.fixture(scope="module")
def api_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "conformance") as running:
        yield running


def _access_token(topology: RunningTopology) -> str:
    """A fresh account's access token, from an instance directly (nginx's sign-in budget is for the run)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{topology.state.ports.api(1)}") as direct:
        return signed_in_token(direct, "conf")


def _schemathesis(
    topology: RunningTopology, report_dir: Path, *extra: str
) -> tuple[int, str, dict[str, Any]]:
    schemathesis = require_binary("schemathesis", str(Path(sys.executable).with_name("schemathesis")))
    argv = [
        schemathesis,
        "run",
        f"{topology.https_url}/api/openapi.json",
        "--tls-verify",
        str(topology.ca),
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--rate-limit",
        RATE,
        "--request-timeout",
        "15",
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
        "--output-truncate",
        "true",
        "--report",
        "json",
        "--report-json-path",
        str(report_dir / "report.json"),
        *extra,
    ]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=MAX_SECONDS + 240, check=False)
    report = json.loads((report_dir / "report.json").read_text())
    return run.returncode, run.stdout + run.stderr, report


@pytest.mark.parametrize("who", ["anonymous", "signed-in"])
def test_every_answer_is_documented(api_topology: RunningTopology, tmp_path: Path, who: str) -> None:
    extra: list[str] = []
    if who == "signed-in":
        extra = ["--header", f"Authorization: Bearer {_access_token(api_topology)}"]
        # Signing out would end the run's session after a few requests: everything after it would be
        # a 401 (documented, but testing nothing). The anonymous run covers these routes.
        extra += ["--exclude-path-regex", r"/auth/(logout|logout-all)$"]
    code, output, report = _schemathesis(api_topology, tmp_path, *extra)
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-6000:]
    cases = report["test_cases"]
    assert isinstance(cases, dict)
    found = {"failures": report["failures"], "errors": report["errors"]}
    assert found == {"failures": [], "errors": []}, json.dumps(found, indent=1)[:6000]
    assert code == 0, summary
    assert report["operations"]["tested"] == report["operations"]["selected"], report["operations"]
    assert cases["generated"] >= MIN_REQUESTS, summary  # it really ran (nginx did not refuse everything)
