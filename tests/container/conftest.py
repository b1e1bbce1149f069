"""The backend image built and run for real under podman: a Debian bookworm base bootstrapped with
mmdebstrap, infrastructure/Dockerfile built on it, its containers started on published loopback ports.
Marked ``container`` (minutes of work): the default run leaves them out; run them with
``./dev test-containers``. The figures measured are printed at the end of the run."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.container.podman import Podman, bootstrap_base, build_image
from tests.support import ROOT, require_binary

BASE_TAG = "localhost/neurmatic-test-base:bookworm"
IMAGE_TAG = "localhost/neurmatic-backend:test"
VERSION = "0.0.0-test"
MEASURED: dict[str, str] = {}


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    for binary in ("podman", "runc", "mmdebstrap", "iptables"):  # iptables: netavark publishes ports with it
        require_binary(binary)
    engine = Podman(tmp_path_factory.mktemp("podman"))
    yield engine
    engine.reset()


@pytest.fixture(scope="session")
def revision() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def image(podman: Podman, revision: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image's tag, built from infrastructure/Dockerfile on a freshly bootstrapped Debian base."""
    seconds = bootstrap_base(podman, BASE_TAG, tmp_path_factory.mktemp("base"))
    MEASURED["base bootstrap (mmdebstrap + import)"] = f"{seconds:.0f} s"
    seconds = build_image(podman, IMAGE_TAG, BASE_TAG, VERSION, revision)
    MEASURED["image build (both stages, pip from the index)"] = f"{seconds:.0f} s"
    size = int(podman.run("image", "inspect", "--format", "{{.Size}}", IMAGE_TAG).stdout)
    base = int(podman.run("image", "inspect", "--format", "{{.Size}}", BASE_TAG).stdout)
    MEASURED["image size"] = f"{size / 1e6:.0f} MB (base {base / 1e6:.0f} MB)"
    return IMAGE_TAG


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.section("container figures")
        for what, figure in MEASURED.items():
            terminalreporter.write_line(f"{what}: {figure}")
