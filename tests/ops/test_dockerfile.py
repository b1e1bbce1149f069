"""The backend image's Dockerfile and build context, read without building (tests/container builds and
runs it under podman): hadolint at warning level over every Dockerfile, and what the platforms rely on
(the uid Kubernetes runs as, tini as PID 1, the health path, the entry point compose's commands assume,
the base a build argument, the labels) and what must never reach the image (secrets, local state)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from neurmatic.render.production import production_files
from tests.support import ROOT, require_binary

DOCKERFILE = ROOT / "infrastructure" / "Dockerfile"
DOCKERFILES = [DOCKERFILE, ROOT / "infrastructure" / "patroni" / "Dockerfile"]
APP_UID = "10001"  # the Kubernetes manifests' runAsUser


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    found = []
    for line in "\n".join(lines).replace("\\\n", " ").splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing_at_warning_level() -> None:
    hadolint = require_binary("hadolint", str(Path(sys.executable).parent / "hadolint"))
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


CHECKOV_CONFIG = ROOT / "infrastructure" / "checkov" / "dockerfile.yaml"


def test_checkov_finds_nothing_beyond_the_justified_skips() -> None:
    checkov = require_binary("checkov", str(ROOT / ".venv-tools" / "checkov" / "bin" / "checkov"))
    result = subprocess.run(
        [checkov, "--config-file", str(CHECKOV_CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"Passed checks: (\d+), Failed checks: (\d+)", result.stdout)
    assert passed is not None, result.stdout[-2000:]
    assert int(passed.group(1)) > 100  # both Dockerfiles were read
    assert passed.group(2) == "0"


def test_every_skipped_checkov_check_says_why() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    assert {str(ROOT / name) for name in config["file"]} == set(map(str, DOCKERFILES))
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skipped = [i for i, line in enumerate(lines) if re.fullmatch(r"\s+- CKV_\w+", line)]
    assert len(skipped) == len(config["skip-check"])
    for i in skipped:
        assert lines[i - 1].strip().startswith("#"), f"{lines[i].strip()} has no reason above it"


def test_the_build_is_multi_stage_on_a_base_chosen_by_build_argument() -> None:
    steps = instructions(DOCKERFILE)
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE}"]
    final = final_stage()
    # The final stage takes the built environment, not the sources, and installs no build tools.
    assert ("COPY", "--from=builder /opt/neurmatic /opt/neurmatic") in final
    assert not any(keyword in ("ADD", "COPY") and "--from" not in rest for keyword, rest in final)
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for tool in ("gcc", "build-essential", "python3-dev", "pip install"):
        assert tool not in runs, tool
    assert "rm -rf /var/lib/apt/lists/*" in runs
    # pip leaves the environment in the builder (so the shipped one installs nothing), with no cache.
    builder = " ".join(rest for keyword, rest in steps[: len(steps) - len(final)] if keyword == "RUN")
    assert "--no-cache-dir" in builder
    assert "pip uninstall -q -y pip" in builder


def test_the_index_and_its_ca_are_build_time_only() -> None:
    steps = instructions(DOCKERFILE)
    builder = steps[: len(steps) - len(final_stage())]
    assert ("ARG", 'PIP_INDEX_URL=""') in builder
    install = next(rest for keyword, rest in builder if keyword == "RUN" and "pip install" in rest)
    assert install.startswith("--mount=type=secret,id=pip_ca ")
    assert all("PIP_" not in rest for keyword, rest in final_stage() if keyword in ("ARG", "ENV"))


def test_the_container_runs_as_the_fixed_non_root_uid_under_tini() -> None:
    final = dict(final_stage())
    assert final["USER"] == f"{APP_UID}:{APP_UID}"
    runs = " ".join(rest for keyword, rest in final_stage() if keyword == "RUN")
    assert f"--uid {APP_UID}" in runs
    assert f"--gid {APP_UID}" in runs
    assert "tini" in runs
    assert json.loads(final["ENTRYPOINT"]) == ["tini", "--", "neurmatic"]
    assert json.loads(final["CMD"]) == ["api"]


def test_it_writes_only_to_tmp_and_declared_volumes() -> None:
    final = final_stage()
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    volumes = json.loads(dict(final)["VOLUME"])
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/" in env
    for variable in ("MEDIA_LOCAL_DIR", "BACKUP_DIR"):
        path = re.search(rf"{variable}=(\S+)", env)
        assert path is not None, variable
        assert path.group(1) in volumes, variable
    assert "API_HOST=0.0.0.0" in env  # reachable through a published port or a Service


def test_the_healthcheck_asks_the_liveness_path_with_python() -> None:
    healthcheck = dict(final_stage())["HEALTHCHECK"]
    assert '"python3", "-c"' in healthcheck
    assert "/api/v1/health/live" in healthcheck
    assert "curl" not in healthcheck


def test_oci_labels_carry_the_version_and_revision_build_arguments() -> None:
    final = final_stage()
    arguments = {rest.split("=")[0] for keyword, rest in final if keyword == "ARG"}
    assert {"VERSION", "REVISION"} <= arguments
    labels = " ".join(rest for keyword, rest in final if keyword == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.revision="${REVISION}"' in labels


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (its last matching rule wins)."""
    verdict = False
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            verdict = not negated
    return verdict


def test_the_build_context_holds_the_package_and_no_secrets_or_state() -> None:
    for needed in ("pyproject.toml", "README.md", "src/neurmatic/ops/cli.py"):
        assert not ignored(needed), needed
    for kept_out in (
        ".env.production",
        ".env",
        ".neurmatic/secrets.env",
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        "infrastructure/nginx/ssl/key.pem",
        "frontend/node_modules/x",
    ):
        assert ignored(kept_out), kept_out


def test_compose_builds_its_app_services_from_this_dockerfile() -> None:
    services = yaml.safe_load(production_files()["docker-compose.production.yml"])["services"]
    apps = {name: service for name, service in services.items() if "neurmatic-backend" in service["image"]}
    assert set(apps) == {"backend-1", "backend-2", "worker"}
    for name, service in apps.items():
        build = service["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
        # The entry point is `tini -- neurmatic`: a command naming the program again would run
        # `neurmatic neurmatic ...`.
        assert service["command"][0] in ("api", "worker"), name
