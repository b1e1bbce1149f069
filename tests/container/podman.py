"""Podman for the container tests: a private configuration and image store, a Debian bookworm base
bootstrapped with mmdebstrap, and the backend image built from infrastructure/Dockerfile on it.

What this machine needs and the shipped files must not carry lives here only: runc with cgroupfs (crun
fails on this host's hybrid cgroups), ulimits no higher than the host's hard limits (podman's defaults
are refused), ``--isolation chroot`` builds, and pip's index and CA for the build (the machine's pip
configuration, its index directories mounted read-only and its CA bundle passed as a build secret, so
none of it is baked into the image).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infrastructure" / "Dockerfile"
SUITE = "bookworm"
DEFAULT_MIRRORS = ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Documentation, manuals and translations are never read in a container: leave them out of the base.
SLIM_DPKG = tuple(f"path-exclude=/usr/share/{part}/*" for part in ("doc", "man", "locale"))


@dataclass
class Podman:
    """podman with a configuration and a store of its own under ``home``."""

    home: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        conf, storage = self.home / "containers.conf", self.home / "storage.conf"
        conf.write_text(containers_conf())
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.home / "graph"}"\n'
            f'runroot = "{self.home / "run"}"\n'
        )
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}

    def run(self, *argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *argv], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            command = " ".join(argv)
            raise AssertionError(f"podman {command} exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result

    def reset(self) -> None:
        """Every container and image of this store gone, its overlay mounts with them."""
        self.run("system", "reset", "--force", timeout=300, check=False)


def containers_conf() -> str:
    limits = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        _soft, hard = resource.getrlimit(which)
        ceiling = min(20000, hard if hard != resource.RLIM_INFINITY else 20000)
        limits.append(f'"{name}={ceiling}:{ceiling}"')
    return (
        f"[containers]\ndefault_ulimits = [{', '.join(limits)}]\n"
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )


def debian_mirrors() -> tuple[str, str]:
    """The archive and security mirrors this machine's apt uses (deb822 or one-line sources), else
    Debian's own."""
    texts = [path.read_text() for path in (Path("/etc/apt/sources.list"),) if path.is_file()]
    texts += [path.read_text() for path in sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    uris = re.findall(r"(?m)^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", "\n".join(texts))
    archive = next((uri for uri in uris if uri.rstrip("/").endswith("/debian")), DEFAULT_MIRRORS[0])
    security = next((uri for uri in uris if uri.rstrip("/").endswith("/debian-security")), DEFAULT_MIRRORS[1])
    return archive, security


def bootstrap_base(podman: Podman, tag: str, workdir: Path) -> float:
    """A Debian bookworm root with python3 made by mmdebstrap and imported as ``tag``; the seconds taken."""
    return bootstrap_root(podman, tag, workdir, BASE_PACKAGES)


def bootstrap_root(
    podman: Podman, tag: str, workdir: Path, packages: tuple[str, ...], *options: str
) -> float:
    """A minimal Debian bookworm root with ``packages`` (and mmdebstrap ``options``) from this machine's
    mirrors, imported as ``tag``; the seconds taken. Maintainer scripts start no service in it."""
    archive, security = debian_mirrors()
    tarball = workdir / f"{tag.rsplit('/', 1)[-1].replace(':', '-')}.tar"
    started = time.monotonic()
    subprocess.run(
        [
            "mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(packages)}",
            *(f"--dpkgopt={option}" for option in SLIM_DPKG), *options,
            SUITE, str(tarball),
            f"deb {archive} {SUITE} main", f"deb {archive} {SUITE}-updates main",
            f"deb {security} {SUITE}-security main",
        ],
        check=True, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    podman.run("import", "--quiet", str(tarball), tag, timeout=300)
    tarball.unlink()
    return time.monotonic() - started


def pip_settings() -> dict[str, str]:
    """pip's index settings as this machine configures them (its config files and environment)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        settings[key.rpartition(".")[2]] = value.strip().strip("'\"")
    for key in ("index-url", "extra-index-url", "find-links", "cert"):
        variable = "PIP_" + key.upper().replace("-", "_")
        if os.environ.get(variable):
            settings[key] = os.environ[variable]
    return settings


def build_options(settings: dict[str, str]) -> list[str]:
    """Build arguments for the index, read-only mounts for local index directories, the CA as a secret."""
    options: list[str] = []
    mounts: set[str] = set()
    for key, argument in (("index-url", "PIP_INDEX_URL"), ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
                          ("find-links", "PIP_FIND_LINKS")):  # fmt: skip
        locations = [
            location
            for location in settings.get(key, "").split()
            if not location.startswith("file:") or Path(location.removeprefix("file://")).exists()
        ]
        for location in locations:
            if "://" not in location or location.startswith("file:"):
                path = Path(location.removeprefix("file://"))
                # A simple index's pages link to files beside it (../files/…); find-links is the directory.
                mounts.add(str(path if key == "find-links" else path.parent))
        if locations:
            options += ["--build-arg", f"{argument}={' '.join(locations)}"]
    for directory in sorted(mounts):
        options += ["--volume", f"{directory}:{directory}:ro"]
    ca = Path(settings.get("cert") or SYSTEM_CA_BUNDLE)
    if ca.is_file():
        options += ["--secret", f"id=pip_ca,src={ca}"]
    return options


def build_image(podman: Podman, tag: str, base: str, version: str, revision: str) -> float:
    """infrastructure/Dockerfile built on ``base`` as ``tag``; the seconds taken."""
    started = time.monotonic()
    podman.run(
        "build", "--isolation", "chroot", "--format", "docker", "--file", str(DOCKERFILE), "--tag", tag,
        "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={revision}", *build_options(pip_settings()), str(ROOT),
        timeout=1500,
    )  # fmt: skip
    return time.monotonic() - started
