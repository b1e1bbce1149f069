"""`neurmatic doctor` on this machine and in network namespaces of the test's own: the report on the
running topology (printed with ``-s``), the firewall and open-port findings before and after the rendered
nftables rules are applied, SSH's effective settings with and without our drop-in, loose secret files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurmatic.health import Status
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.doctor import Audit, secret_modes
from neurmatic.render.host.firewall import FIREWALL_FILE
from neurmatic.render.host.settings import SSHD_PATH
from tests.conftest import RunningTopology
from tests.support import ROOT, neurmatic, unavailable

EXPECTED = {
    "firewall", "open ports", "fail2ban", "secret files", "tls certificate", "ocsp stapling", "ssh",
    "kernel settings", "disk", "memory", "backups",
}  # fmt: skip
EXIT_BY_VERDICT = {"healthy": ExitCode.OK, "degraded": ExitCode.DEGRADED, "unhealthy": ExitCode.UNHEALTHY}
DOCTOR = [sys.executable, "-m", "neurmatic", "doctor", "--json"]


def _findings(output: str) -> dict[str, dict[str, Any]]:
    return {finding["name"]: finding for finding in json.loads(output)["findings"]}


def test_the_report_on_this_machine_covers_the_checklist(topology: RunningTopology) -> None:
    result = neurmatic("doctor", "--json", state_dir=topology.state_dir, check=False)
    report = json.loads(result.stdout)
    findings = _findings(result.stdout)
    assert set(findings) == EXPECTED
    assert result.returncode == EXIT_BY_VERDICT[report["verdict"]]
    # The topology's own parts are right: its secrets are owner-only, its certificate verifies against its
    # CA and has months left, its CA names no OCSP responder (nothing to staple), backups are judged.
    assert findings["secret files"]["status"] == Status.UP, findings["secret files"]
    assert findings["tls certificate"]["status"] == Status.UP, findings["tls certificate"]
    assert "chain verified" in findings["tls certificate"]["detail"]
    assert findings["ocsp stapling"]["status"] == Status.NOT_CONFIGURED
    assert findings["backups"]["status"] in {Status.UP, Status.DEGRADED}
    for finding in findings.values():
        if finding["status"] in {Status.DOWN, Status.DEGRADED}:
            assert finding["fix"], f"{finding['name']} says what is wrong but not how to fix it"
    text = neurmatic("doctor", state_dir=topology.state_dir, check=False)
    print(f"\nneurmatic doctor on this machine (exit {text.returncode}):\n{text.stdout}")


def test_a_secret_file_readable_by_others_is_named_with_its_fix(tmp_path: Path) -> None:
    secret = tmp_path / ".env.production"
    secret.write_text("JWT_SECRET=x\n")
    secret.chmod(0o644)
    loose = secret_modes(Audit(secret_files=(secret,)))
    assert loose.status == Status.DOWN and "644" in loose.detail and loose.fix == f"chmod 600 {secret}"
    secret.chmod(0o600)
    assert secret_modes(Audit(secret_files=(secret,))).status == Status.UP


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace of the test's own (its loopback up): its own ports, its own nftables."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        unavailable("network namespaces and nftables need root, ip and nft (apt-get install -y nftables)")
    name = f"nmdoc{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _in(namespace: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_firewall_and_open_ports_before_and_after_the_rules(namespace: str) -> None:
    """A database port listening on every address: exposed without the firewall, private with it."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c",
         "import socket, time; s = socket.create_server(('0.0.0.0', 5432)); "
         "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5353)); time.sleep(120)"],
    )  # fmt: skip
    try:
        url = ["--url", "https://127.0.0.1:9"]  # no edge in the namespace: only the host findings matter
        before = _findings(_in(namespace, *DOCTOR, *url).stdout)
        assert before["firewall"]["status"] == Status.DOWN and FIREWALL_FILE in before["firewall"]["fix"]
        assert before["open ports"]["status"] == Status.DOWN, before["open ports"]
        assert "5432/tcp" in before["open ports"]["detail"] and "5353/udp" in before["open ports"]["detail"]
        applied = _in(namespace, "nft", "-f", str(ROOT / FIREWALL_FILE))
        assert applied.returncode == 0, applied.stderr
        after = _findings(_in(namespace, *DOCTOR, *url).stdout)
        assert after["firewall"]["status"] == Status.UP, after["firewall"]
        assert after["open ports"]["status"] == Status.UP, after["open ports"]
        assert "5432 from the private network only" in after["open ports"]["detail"]
        assert after["tls certificate"]["status"] == Status.DOWN and after["tls certificate"]["fix"]
    finally:
        listener.kill()
        listener.wait()


def test_ssh_findings_follow_sshds_effective_settings(tmp_path: Path) -> None:
    """In a private mount namespace: /run/sshd made (as ssh.service would), and /etc/ssh/sshd_config.d
    replaced by an empty directory (Debian's defaults: root may log in with a key) or by ours."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not Path("/usr/sbin/sshd").is_file():
        unavailable("sshd's check needs root, unshare and openssh-server (apt-get install -y openssh-server)")
    if not list(Path("/etc/ssh").glob("ssh_host_*_key")):
        unavailable("sshd -T needs the host keys openssh-server generates")
    empty, ours = tmp_path / "empty", tmp_path / "ours"
    empty.mkdir()
    ours.mkdir()
    shutil.copyfile(ROOT / SSHD_PATH, ours / Path(SSHD_PATH).name)
    # An operator account: a passwd with one more line, bind-mounted over /etc/passwd in the namespace.
    home = tmp_path / "ops"
    (home / ".ssh").mkdir(parents=True)
    passwd = tmp_path / "passwd"
    passwd.write_text(Path("/etc/passwd").read_text() + f"nmops:x:4242:4242::{home}:/bin/bash\n")
    results = {}
    for name, drop_ins, key in (
        ("debian", empty, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ops"),
        ("ours, nobody else has a key", ours, ""),
        ("ours", ours, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA ops"),
    ):
        (home / ".ssh" / "authorized_keys").write_text(key)
        script = (
            "mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && "
            f"mount --bind {drop_ins} /etc/ssh/sshd_config.d && mount --bind {passwd} /etc/passwd && "
            'exec "$@"'
        )
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *DOCTOR,
             "--url", "https://127.0.0.1:9"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        )  # fmt: skip
        results[name] = _findings(run.stdout)["ssh"]
    assert results["debian"]["status"] == Status.DOWN, results["debian"]
    assert "permitrootlogin" in results["debian"]["detail"] and SSHD_PATH in results["debian"]["fix"]
    lockout = results["ours, nobody else has a key"]
    assert lockout["status"] == Status.DOWN and "nobody could log in" in lockout["detail"], lockout
    assert results["ours"]["status"] == Status.UP, results["ours"]
