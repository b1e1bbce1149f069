"""`neurmatic tls` for real: certbot against Pebble (Let's Encrypt's ACME test server, Debian's `pebble`) on
loopback, the HTTP-01 challenge answered by nginx from its webroot, the certificate installed by our deploy
hook and served over TLS; a forced renewal under a steady load of new TLS connections with no failed
request; a certificate that fails its checks refused with the served one kept.

Pebble resolves the domain through `pebble-challtestsrv`'s DNS (every name → 127.0.0.1) and validates the
challenge on nginx's plain-HTTP port. nginx runs the production template with loopback paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from neurmatic.ops.exit_codes import ExitCode
from neurmatic.render.nginx import local_nginx_context, render_nginx
from neurmatic.supervisor.state import ServiceAccount
from neurmatic.supervisor.tls import ensure_certificates
from tests.mailbox import free_port
from tests.support import neurmatic, unavailable, wait_for_port

DOMAIN = "www.neurmatic.test"
LOAD_TIMEOUT = 5.0


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"success":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (apt-get install -y {name})")
    assert found is not None
    return found


def _pki(directory: Path) -> tuple[Path, Path, Path]:
    """(CA, server certificate, key) of a CA of the test's own, for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    return ensure_certificates(directory, ServiceAccount(None, 0, 0))


@dataclass
class Site:
    """nginx with the edge config, its certificate in ``install``; Pebble and its DNS beside it."""

    root: Path
    https_port: int
    install: Path
    webroot: Path
    reload_command: str
    acme_directory: str
    pebble_ca: Path  # Pebble's own HTTPS (the ACME API)
    pebble_roots: Path  # the root Pebble issues from (regenerated at each start)
    certbot_dir: Path

    def tls_args(self) -> list[str]:
        return [
            "--install-dir", str(self.install), "--reload-command", self.reload_command,
            "--trusted-roots", str(self.pebble_roots),
        ]  # fmt: skip

    def served(self, cafile: Path) -> x509.Certificate:
        """The certificate nginx presents for the domain (verified against ``cafile``)."""
        context = ssl.create_default_context(cafile=str(cafile))
        with (
            socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


def _start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pebble, challtestsrv, nginx = _binary("pebble"), _binary("pebble-challtestsrv"), _binary("nginx")
    _binary("certbot")
    root = tmp_path_factory.mktemp("acme")
    processes: list[subprocess.Popen[bytes]] = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        # The first certificate nginx serves: the local CA's (what a new host has before Let's Encrypt).
        local_ca, local_cert, local_key = _pki(root / "local-ca")
        install = root / "ssl"
        install.mkdir()
        shutil.copyfile(local_cert, install / "fullchain.pem")
        shutil.copyfile(local_key, install / "privkey.pem")
        shutil.copyfile(local_ca, install / "chain.pem")
        http_port, https_port, dns_port = free_port(), free_port(), free_port()
        acme_port, management_port = free_port(), free_port()
        webroot = root / "webroot"
        webroot.mkdir()
        context = dataclasses.replace(
            local_nginx_context(
                state_dir=root / "state",
                https_port=https_port,
                http_port=http_port,
                upstreams=[f"127.0.0.1:{upstream.server_port}"],
                cert=install / "fullchain.pem",
                key=install / "privkey.pem",
            ),
            acme_webroot=webroot,
            server_name=DOMAIN,
        )
        for directory in context.directories():
            directory.mkdir(parents=True, exist_ok=True)
        conf = root / "state" / "nginx" / "nginx.conf"
        conf.write_text(render_nginx(context))
        prefix = ["-p", str(conf.parent), "-c", str(conf)]
        # As root, workers would run as `nobody`, who cannot enter pytest's 0700 tmp dirs.
        globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        processes.append(_start([nginx, "-e", "stderr", *prefix, "-g", globals_], root / "nginx.out"))
        wait_for_port(https_port, processes[-1], root / "nginx.out")
        # `-s reload` signals the master, which keeps its command-line globals (user root) on reload.
        reload_command = shlex.join([nginx, *prefix, "-s", "reload"])

        # Pebble: its API over TLS from a CA of the test's, names resolved by challtestsrv to 127.0.0.1,
        # HTTP-01 validated on nginx's plain-HTTP port.
        pebble_ca, pebble_cert, pebble_key = _pki(root / "pebble-tls")
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{acme_port}",
                "managementListenAddress": f"127.0.0.1:{management_port}",
                "certificate": str(pebble_cert),
                "privateKey": str(pebble_key),
                "httpPort": http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (root / "pebble.json").write_text(json.dumps(config))
        processes.append(
            _start(
                [challtestsrv, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                 "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "", "-tlsalpn01", "",
                 "-management", f"127.0.0.1:{free_port()}"],
                root / "challtestsrv.out",
            )
        )  # fmt: skip
        processes.append(
            _start(
                [pebble, "-config", str(root / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
                root / "pebble.out",
                env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
            )
        )
        wait_for_port(management_port, processes[-1], root / "pebble.out")
        roots = httpx.get(f"https://127.0.0.1:{management_port}/roots/0", verify=str(pebble_ca), timeout=10)
        assert roots.status_code == 200, roots.text
        (root / "pebble-roots.pem").write_text(roots.text)
        yield Site(
            root=root,
            https_port=https_port,
            install=install,
            webroot=webroot,
            reload_command=reload_command,
            acme_directory=f"https://127.0.0.1:{acme_port}/dir",
            pebble_ca=pebble_ca,
            pebble_roots=root / "pebble-roots.pem",
            certbot_dir=root / "certbot",
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        upstream.shutdown()


def _tls(site: Site, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return neurmatic("tls", *args, timeout=180, check=False, env=env)


def _tail(log: Path, lines: int = 40) -> str:
    """The end of certbot's own log, for a failure's message."""
    return "\n".join(log.read_text().splitlines()[-lines:]) if log.is_file() else ""


def _issue(site: Site) -> subprocess.CompletedProcess[str]:
    return _tls(
        site, "issue", "--domain", DOMAIN, "--email", "ops@neurmatic.test", "--webroot", str(site.webroot),
        "--server", site.acme_directory, "--acme-ca-bundle", str(site.pebble_ca),
        "--certbot-dir", str(site.certbot_dir), *site.tls_args(), "--json",
    )  # fmt: skip


@pytest.fixture(scope="module")
def issued(site: Site) -> dict[str, Any]:
    """`tls issue` run once: what it printed of the installed certificate."""
    result = _issue(site)
    assert result.returncode == ExitCode.OK, result.stderr + result.stdout
    info: dict[str, Any] = json.loads(result.stdout)["certificate"]
    return info


def test_issue_serves_the_acme_certificate_and_status_reports_it(site: Site, issued: dict[str, Any]) -> None:
    info = issued
    assert DOMAIN in info["names"] and info["issuer"].startswith("Pebble")
    # nginx reloads asynchronously (new workers take over): wait for the new certificate to be served,
    # verified against Pebble's root for the domain's name.
    assert _served_serial(site, timeout=10) == info["serial"]
    status = _tls(site, "status", "--install-dir", str(site.install), "--json")
    assert status.returncode == ExitCode.OK, status.stderr
    assert json.loads(status.stdout)["certificate"]["serial"] == info["serial"]
    assert (site.install / "privkey.pem").stat().st_mode & 0o777 == 0o600


def _served_serial(site: Site, timeout: float) -> str | None:
    """The serial nginx serves once it verifies against Pebble's root (None when it never does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return format(site.served(site.pebble_roots).serial_number, "x")
        except ssl.SSLCertVerificationError:
            time.sleep(0.1)
    return None


def _load(site: Site, stop: threading.Event, counts: dict[str, int], errors: list[str]) -> None:
    """New TLS connections one after another (each sees whichever certificate nginx serves now), each
    verified against the old root or Pebble's and made for the domain's name."""
    context = ssl.create_default_context(cafile=str(site.pebble_roots))
    request = f"GET /api/v1/health/live HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode()
    while not stop.is_set():
        try:
            with (
                socket.create_connection(("127.0.0.1", site.https_port), timeout=LOAD_TIMEOUT) as raw,
                context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
            ):
                tls.sendall(request)
                answer = tls.recv(64)
            ok = answer.startswith(b"HTTP/1.1 200")
        except OSError as exc:
            ok = False
            errors.append(repr(exc))
        counts["ok" if ok else "failed"] += 1
        time.sleep(0.002)  # steady, not flat out: certbot, Pebble and nginx share the 2 cores


def test_a_forced_renewal_under_load_fails_no_request(site: Site, issued: dict[str, Any]) -> None:
    before = site.served(site.pebble_roots).serial_number
    stop, counts, errors = threading.Event(), {"ok": 0, "failed": 0}, list[str]()
    load = threading.Thread(target=_load, args=(site, stop, counts, errors), daemon=True)
    load.start()
    time.sleep(1.0)  # the load runs before, during and after the renewal
    renewed = _tls(
        site,
        "renew",
        "--force",
        "--certbot-dir",
        str(site.certbot_dir),
        "--acme-ca-bundle",
        str(site.pebble_ca),
    )
    log = site.certbot_dir / "logs" / "letsencrypt.log"
    assert renewed.returncode == ExitCode.OK, renewed.stderr + renewed.stdout + _tail(log)
    deadline = time.monotonic() + 10
    while site.served(site.pebble_roots).serial_number == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    stop.set()
    load.join(timeout=LOAD_TIMEOUT + 1)
    print(f"renewal under load: {counts['ok']} requests answered, {counts['failed']} failed")
    assert site.served(site.pebble_roots).serial_number != before, "nginx still serves the old certificate"
    assert counts["failed"] == 0, errors[:5]
    assert counts["ok"] > 20


def test_a_certificate_that_fails_its_checks_is_refused_and_the_served_one_kept(
    site: Site, issued: dict[str, Any]
) -> None:
    served = site.served(site.pebble_roots).serial_number
    installed = {name: (site.install / name).read_bytes() for name in ("fullchain.pem", "privkey.pem")}
    lineage = site.certbot_dir / "config" / "live" / DOMAIN
    wrong_key = site.root / "wrong-key"
    shutil.copytree(lineage, wrong_key, symlinks=False)
    other_ca = _pki(site.root / "other-ca")
    (wrong_key / "privkey.pem").write_bytes(other_ca[2].read_bytes())
    cases = {
        "does not belong to the certificate": (wrong_key, DOMAIN),
        "does not name other.neurmatic.test": (lineage, "other.neurmatic.test"),
    }
    for message, (candidate, domains) in cases.items():
        hook = _tls(
            site, "deploy-hook", *site.tls_args(),
            env={"RENEWED_LINEAGE": str(candidate), "RENEWED_DOMAINS": domains},
        )  # fmt: skip
        assert hook.returncode == ExitCode.CERTIFICATE_REFUSED, hook.stderr + hook.stdout
        assert message in hook.stderr
    # A chain from a root nobody trusts: the local CA's certificate, checked against Pebble's roots.
    untrusted = site.root / "untrusted"
    untrusted.mkdir()
    local = _pki(site.root / "local-ca")
    shutil.copyfile(local[1], untrusted / "fullchain.pem")
    shutil.copyfile(local[2], untrusted / "privkey.pem")
    shutil.copyfile(local[0], untrusted / "chain.pem")
    hook = _tls(
        site, "deploy-hook", *site.tls_args(), env={"RENEWED_LINEAGE": str(untrusted), "RENEWED_DOMAINS": ""}
    )
    assert hook.returncode == ExitCode.CERTIFICATE_REFUSED and "does not end at a root" in hook.stderr
    assert {name: (site.install / name).read_bytes() for name in installed} == installed
    assert site.served(site.pebble_roots).serial_number == served


def test_the_renewal_schedule_is_installed_once(site: Site) -> None:
    cron = site.root / "cron.d" / "neurmatic-certbot"
    args = ["schedule", "--cron-file", str(cron), "--certbot-dir", str(site.certbot_dir)]
    first, second = _tls(site, *args), _tls(site, *args)
    assert first.returncode == second.returncode == ExitCode.OK, first.stderr + second.stderr
    assert "installed" in first.stdout and "unchanged" in second.stdout
    [line] = [
        line for line in cron.read_text().splitlines() if "certbot" in line and not line.startswith("#")
    ]
    assert line.startswith("17 3,15 * * * root ") and "renew --quiet --config-dir" in line


def test_the_reload_runs_where_issue_was_run_and_a_failed_reload_says_so(
    site: Site, issued: dict[str, Any], tmp_path: Path
) -> None:
    """certbot's timer runs the hook from /: a reload command naming a file relative to the checkout
    (`docker compose -f docker-compose.production.yml …`) runs in the directory `issue` was run from."""
    lineage = site.certbot_dir / "config" / "live" / DOMAIN
    checkout, install = tmp_path / "checkout", tmp_path / "ssl"
    checkout.mkdir()
    (checkout / "docker-compose.production.yml").write_text("services: {}\n")
    env = {"RENEWED_LINEAGE": str(lineage), "RENEWED_DOMAINS": DOMAIN}
    hook = [
        sys.executable, "-m", "neurmatic", "tls", "deploy-hook", "--install-dir", str(install),
        "--trusted-roots", str(site.pebble_roots), "--workdir", str(checkout),
    ]  # fmt: skip
    reload_ok = "test -f docker-compose.production.yml"
    done = subprocess.run(
        [*hook, "--reload-command", reload_ok],
        cwd="/",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == ExitCode.OK, done.stderr
    # The three names go through one link, so one rename switches them together.
    assert {(install / name).readlink() for name in ("fullchain.pem", "privkey.pem", "chain.pem")} == {
        Path("current/fullchain.pem"),
        Path("current/privkey.pem"),
        Path("current/chain.pem"),
    }
    assert (install / "current").readlink().parent == Path(".certs")
    failed = subprocess.run(
        [*hook, "--reload-command", "false"],
        cwd="/",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert failed.returncode == ExitCode.SERVICE_FAILED
    assert "installed" in failed.stderr and "not reloaded" in failed.stderr
