"""The GitHub Actions workflows (.github/workflows): actionlint finds nothing, every action is pinned to
a full commit SHA (a tag can be moved to other code; a SHA cannot), and they do what the guide says: CI
runs .ci/run on pushes and pull requests; a v* tag builds and pushes the image and deploys it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT, require_binary

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$")


def workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


def uses_lines() -> list[tuple[str, str, str]]:
    """(file, action reference, rest of the line) for every `uses:` in every workflow."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            if match:
                found.append((path.name, match.group(1), match.group(2)))
    return found


def test_both_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS.glob("*.yml")} >= {"ci.yml", "deploy.yml"}


def test_actionlint_finds_nothing() -> None:
    actionlint = require_binary("actionlint", str(Path(sys.executable).parent / "actionlint"))
    result = subprocess.run(
        [actionlint, "-no-color", *map(str, sorted(WORKFLOWS.glob("*.yml")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit_sha_with_its_version_in_a_comment() -> None:
    uses = uses_lines()
    assert len(uses) >= 5
    for name, reference, rest in uses:
        assert PINNED.match(reference), f"{name}: {reference} is not pinned to a 40-hex commit SHA"
        assert re.match(r"^\s+#\s*v\d+(\.\d+)*\s*$", rest), f"{name}: {reference} has no `# vX.Y.Z`"


@pytest.mark.parametrize("reference", ["actions/checkout@v4", "actions/checkout@11bd719", "docker/x@main"])
def test_the_pin_check_refuses_tags_branches_and_short_shas(reference: str) -> None:
    assert not PINNED.match(reference)


def test_ci_runs_the_projects_script_on_pushes_and_pull_requests() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    steps = ci["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    assert ci["jobs"]["test"]["container"]["image"].startswith("debian:bookworm")  # root, as ./dev expects
    assert ci["permissions"] == {"contents": "read"}
    # The container tests (image and compose stack) run as a job of their own, on the runner itself, so
    # the test job's .ci/run leaves them out.
    assert any("./dev test-containers" in step.get("run", "") for step in ci["jobs"]["image"]["steps"])
    assert ci["jobs"]["test"]["env"]["NEURMATIC_CI_CONTAINERS"] == "0"
    assert 'NEURMATIC_CI_CONTAINERS:-1}" != 0' in (ROOT / ".ci" / "run").read_text()


def test_every_job_has_a_time_bound() -> None:
    for name in ("ci.yml", "deploy.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 90, f"{name}: {job_name}"


def test_a_version_tag_builds_pushes_and_deploys_the_image() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["tags"] == ["v*"]
    assert "workflow_dispatch" in deploy["on"]
    image = deploy["jobs"]["image"]
    assert image["permissions"]["packages"] == "write"
    build = next(step for step in image["steps"] if step.get("id") == "build")
    assert build["with"]["push"] is True
    assert (ROOT / build["with"]["context"] / build["with"]["file"]).is_file()
    for argument in ("VERSION=", "REVISION=${{ github.sha }}"):
        assert argument in build["with"]["build-args"]
    for label in ("org.opencontainers.image.version=", "org.opencontainers.image.revision="):
        assert label in build["with"]["labels"]
    # Each target waits for the image and runs in the protected `production` environment, whose
    # secrets only it can read; neither writes a secret into the workflow itself.
    for target in ("kubernetes", "host"):
        job = deploy["jobs"][target]
        assert job["needs"] == "image"
        assert job["environment"]["name"] == "production"
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "kubectl apply" in text
    assert "infrastructure/kubernetes/overlays/production" in text
    assert "neurmatic deploy" in text
    assert "secrets.KUBECONFIG" in text
    assert "secrets.DEPLOY_SSH_KEY" in text
