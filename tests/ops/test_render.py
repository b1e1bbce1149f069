"""One source for every config: the committed production files are exactly what the templates render."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.render.production import production_files
from neurmatic.supervisor.state import ServiceAccount
from tests.support import ROOT, neurmatic, unavailable


def test_committed_production_configs_are_fresh() -> None:
    stale = [
        path
        for path, text in production_files().items()
        if not (ROOT / path).exists() or (ROOT / path).read_text() != text
    ]
    assert stale == [], f"run `neurmatic render`: stale {stale}"


def test_render_check_fails_on_a_stale_file_and_render_fixes_it(tmp_path: Path) -> None:
    for relative in production_files():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    assert neurmatic("render", "--check", "--root", str(tmp_path)).returncode == 0
    sentinel_conf = tmp_path / "infrastructure/redis/sentinel.conf"
    sentinel_conf.write_text(sentinel_conf.read_text() + "# edited by hand\n")
    result = neurmatic("render", "--check", "--root", str(tmp_path), check=False)
    assert result.returncode == ExitCode.CONFIGURATION
    assert "infrastructure/redis/sentinel.conf" in result.stderr
    neurmatic("render", "--root", str(tmp_path))
    assert neurmatic("render", "--check", "--root", str(tmp_path)).returncode == 0


def test_production_configs_hold_no_secret() -> None:
    secret_directive = re.compile(r"(requirepass|masterauth|auth-pass \S+|sentinel-pass)\s+(\S+)")
    found = 0
    for path, text in production_files().items():
        for line in text.splitlines():
            match = secret_directive.search(line)
            if match and not line.lstrip().startswith("#"):
                found += 1
                assert match.group(2).strip("\"'").startswith(("__", "${", "$$")), f"{path}: {line}"
    assert found >= 3


def test_every_password_setting_in_the_production_files_is_interpolated() -> None:
    """YAML keys that name a password (compose environment, Patroni) take their value from the environment."""
    password_key = re.compile(r"^\s*([A-Za-z_]*password)\s*:\s*(\S*)", re.IGNORECASE)
    found = 0
    for path, text in production_files().items():
        for line in text.splitlines():
            if match := password_key.match(line):
                found += 1
                assert match.group(2).startswith("${"), f"{path}: {line}"
    assert found >= 4


def test_the_rendered_patroni_cluster_bootstraps_switches_over_and_rejoins() -> None:
    """The production etcd flags and Patroni configs, run as compose would run them
    (tests/compose_network.py): one network namespace per service on the compose subnet, so pg_hba
    meets the addresses it will meet in production."""
    if os.geteuid() != 0:
        unavailable("network namespaces and the postgres account need root")
    for binary in ("unshare", "ip", "etcd"):
        if shutil.which(binary) is None:
            unavailable(f"{binary} is not installed (./dev setup installs etcd-server)")
    if not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        unavailable("PostgreSQL 15 (the image's) is not installed")
    ServiceAccount.for_current_process()  # the unprivileged account PostgreSQL runs as
    work = Path(tempfile.mkdtemp(prefix="neurmatic-compose-ha-"))
    work.chmod(0o755)
    try:
        result = subprocess.run(
            [
                *("unshare", "--mount", "--net", "--propagation", "private"),
                *(sys.executable, "-m", "tests.compose_network", str(work)),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        logs = {path.name: path.read_text()[-3000:] for path in work.glob("*.log")}
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{logs}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_pgbackrest_accepts_the_production_configuration(tmp_path: Path) -> None:
    """pgBackRest parses the rendered file with the compose environment's variables (a misspelt option
    is a warning it prints, not an error, so the output is read): every option known, the stanza
    named, the repository reachable as a path."""
    binary = shutil.which("pgbackrest")
    if binary is None:
        unavailable("pgbackrest is not installed")
    config = tmp_path / "pgbackrest.conf"
    config.write_text(production_files()["infrastructure/pgbackrest/pgbackrest.conf"])
    with_a_typo = tmp_path / "typo.conf"
    with_a_typo.write_text(config.read_text().replace("compress-level=", "compres-level="))
    env = {
        **os.environ,
        "PGBACKREST_REPO1_CIPHER_PASS": "x" * 64,
        "PGBACKREST_REPO2_CIPHER_PASS": "x" * 64,
        "PGBACKREST_REPO2_S3_BUCKET": "neurmatic-backups",
        "PGBACKREST_REPO2_S3_REGION": "eu-west-1",
        "PGBACKREST_REPO2_S3_ENDPOINT": "s3.eu-west-1.amazonaws.com",
        "PGBACKREST_REPO2_S3_KEY": "key",
        "PGBACKREST_REPO2_S3_KEY_SECRET": "secret",
    }
    local = [f"--repo1-path={tmp_path / 'repo'}", f"--log-path={tmp_path}", f"--lock-path={tmp_path}"]

    def info(path: Path) -> subprocess.CompletedProcess[str]:
        argv = [str(binary), f"--config={path}", "--stanza=neurmatic", "--repo=1", *local, "info"]
        return subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)

    good, bad = info(config), info(with_a_typo)
    assert good.returncode == 0 and "missing stanza path" in good.stdout, good.stdout + good.stderr
    assert "invalid" not in (good.stdout + good.stderr).lower()
    assert "invalid option 'compres-level'" in bad.stdout + bad.stderr  # the check can fail
