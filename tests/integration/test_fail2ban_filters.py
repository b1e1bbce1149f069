"""The host's fail2ban filters, judged by fail2ban-regex against access-log lines that the real topology's
nginx wrote for requests made here: a burst of wrong passwords (some of them to the sign-in path spelled
otherwise: percent-encoded, a doubled slash, a dot segment) and a scanner's probes match, everyday traffic
(articles, a successful sign-in, the API's own 404s, the web client, a missing asset) matches neither. The
jail file is checked by fail2ban-client against Debian's own base configuration."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from neurmatic.render.host.fail2ban import OUT, fail2ban_files, jails
from tests.conftest import RunningTopology
from tests.support import PASSWORD, unavailable

DEBIAN_CONFIG = Path("/etc/fail2ban")
SCANNER_PROBES = ("/wp-login.php", "/xmlrpc.php", "/.env", "/phpmyadmin/index.php", "/.git/config")
# The sign-in path as a client may spell it: nginx chooses the location (and the sign-in limit) by the
# decoded, normalised path, the raw spelling is what it passes to the API. Each spelling: its raw path.
SIGNIN_SPELLINGS = (
    "/api/v1/auth/%6cogin",  # the app decodes it too: a sign-in the log's request line does not name
    "//api/v1/auth/login",  # nginx merges the slashes; the app routes the raw path
    "/api/v1/./auth/login",  # nginx resolves the dot segment; the app routes the raw path
    "/api/v1/auth/2fa/%63hallenge",
)
_LINES = re.compile(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", re.MULTILINE)


def _program(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if path is None:
        unavailable(f"{name} is not installed (apt-get install -y fail2ban)")
    return path


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's /etc/fail2ban with our filters and jail file written in, as a host would have it."""
    _program("fail2ban-regex")
    if not (DEBIAN_CONFIG / "jail.conf").is_file():
        unavailable(f"{DEBIAN_CONFIG}/jail.conf is missing (apt-get install -y fail2ban)")
    directory = tmp_path_factory.mktemp("fail2ban") / "etc"
    shutil.copytree(DEBIAN_CONFIG, directory)
    log = directory.parent / "access.log"
    log.touch()  # fail2ban-client -t wants the jails' log files to exist
    for path, text in fail2ban_files(nginx_access_log=str(log)).items():
        (directory / path.removeprefix(f"{OUT}/")).write_text(text)
    return directory


def _matched(config_dir: Path, lines: list[str], filter_name: str, tmp_path: Path) -> int:
    """How many of ``lines`` the filter counts as failures (fail2ban-regex's "matched")."""
    log = tmp_path / f"{filter_name}-{uuid.uuid4().hex[:6]}.log"
    log.write_text("".join(f"{line}\n" for line in lines))
    # An absolute path: a bare name is looked up among the filters of /etc/fail2ban/filter.d.
    result = subprocess.run(
        [_program("fail2ban-regex"), str(log), str(config_dir / "filter.d" / f"{filter_name}.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = _LINES.search(result.stdout)
    assert found, result.stdout
    total, _ignored, matched, _missed = (int(group) for group in found.groups())
    assert total == len(lines), result.stdout  # every line read, none lost to the date parsing
    return matched


def _access_log_lines(topology: RunningTopology, agent: str) -> list[str]:
    log = topology.state_dir / "nginx" / "logs" / "access.log"
    return [line for line in log.read_text().splitlines() if f'"{agent}"' in line]


def _address(tag: str, offset: int) -> str:
    """A client address of this run's own for the API's per-address limits (the API trusts nginx's
    X-Forwarded-For)."""
    return f"198.51.100.{(int(tag[:4], 16) + offset * 83) % 250 + 1}"


def _source(tag: str) -> str:
    """A loopback source address of this run's own: nginx keys its limits on its peer, and the burst of
    wrong passwords must not spend the sign-in budget of 127.0.0.1, which the session's other tests share."""
    return f"127.77.{int(tag[:2], 16)}.{int(tag[2:4], 16) % 250 + 2}"


def _client(topology: RunningTopology, address: str, agent: str, source: str) -> httpx.Client:
    return topology.client(
        headers={"X-Forwarded-For": address, "User-Agent": agent},
        transport=httpx.HTTPTransport(
            verify=ssl.create_default_context(cafile=str(topology.ca)), local_address=source
        ),
    )


def _post_raw(
    topology: RunningTopology, path: str, body: dict[str, str], address: str, agent: str, source: str
) -> int:
    """A POST whose request line carries ``path`` byte for byte (httpx resolves dot segments); its status."""
    url = urlsplit(topology.https_url)
    context = ssl.create_default_context(cafile=str(topology.ca))
    connection = http.client.HTTPSConnection(
        url.hostname or "", url.port, context=context, timeout=10, source_address=(source, 0)
    )
    try:
        headers = {"Content-Type": "application/json", "X-Forwarded-For": address, "User-Agent": agent}
        connection.request("POST", path, body=json.dumps(body), headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _status(line: str) -> int:
    return int(line.split('" ', 1)[1].split(" ", 1)[0])


def test_filters_match_the_attacks_the_topology_logged_and_nothing_else(
    topology: RunningTopology, config_dir: Path, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    normal_agent, attack_agent, scan_agent = (f"f2b-{kind}-{tag}" for kind in ("normal", "attack", "scan"))
    email = f"f2b-{tag}@example.com"
    limits = {jail.name: jail.maxretry for jail in jails()}

    # Everyday traffic: reading, one account signing up and in, the API's own 404, the web client.
    with _client(topology, _address(tag, 0), normal_agent, _source(tag)) as client:
        account = {"email": email, "username": f"f2b_{tag}", "password": PASSWORD, "termsAccepted": True}
        assert client.post("/api/v1/auth/register", json=account).status_code == 201
        signed_in = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        listed = client.get("/api/v1/articles")
        assert listed.status_code == 200
        for article in listed.json()["data"][:1]:
            assert client.get(f"/api/v1/articles/{article['slug']}").status_code == 200
        assert client.get("/api/v1/categories").status_code == 200
        assert client.get("/api/v1/articles/no-such-slug").status_code == 404  # the API's, not a scan
        for page in ("/", "/login", "/articles/some-article", "/admin/login"):
            assert client.get(page).status_code == 200, page
        assert client.get("/assets/index-000000.js").status_code == 404  # an old tab after a release
        assert client.get("/.well-known/security.txt").status_code in {200, 404}
        assert client.get("/api/v1/health").status_code == 200  # not logged at all (access_log off)

    # A burst of wrong passwords, first to the sign-in paths spelled otherwise (while nginx's limit still
    # lets them through to the API), then plainly: the API's 401s until nginx's sign-in limit answers 429.
    wrong = {"email": email, "password": "not-the-password-1"}
    code = {"challenge": "x" * 20, "code": "123456"}
    spelled = {
        path: _post_raw(
            topology, path, code if "2fa" in path else wrong, _address(tag, 1), attack_agent, _source(tag)
        )
        for path in SIGNIN_SPELLINGS
    }
    # The percent-encoded ones are sign-ins at the API (401) unless the limit answered first (429); the
    # doubled slash and the dot segment never reach the sign-in route (the app's own 404), but nginx still
    # counts them against the sign-in limit (429).
    assert spelled["/api/v1/auth/%6cogin"] in {401, 429}, spelled
    assert spelled["/api/v1/auth/2fa/%63hallenge"] in {401, 429}, spelled
    assert spelled["//api/v1/auth/login"] in {404, 429}, spelled
    assert spelled["/api/v1/./auth/login"] in {404, 429}, spelled
    with _client(topology, _address(tag, 1), attack_agent, _source(tag)) as client:
        burst = [client.post("/api/v1/auth/login", json=wrong) for _ in range(limits["neurmatic-signin"])]
        burst.append(client.post("/api/v1/auth/2fa/challenge", json=code))
    statuses = [response.status_code for response in burst]
    assert 401 in statuses and 429 in statuses and set(statuses) <= {401, 429}, (statuses, spelled)

    # A scanner: probes for other software's scripts and dotfiles, as many as the jail bans at.
    with _client(topology, _address(tag, 2), scan_agent, _source(tag)) as client:
        probes = [SCANNER_PROBES[index % len(SCANNER_PROBES)] for index in range(limits["neurmatic-scanner"])]
        scanned = [client.get(path) for path in probes]
    assert all(response.status_code == 404 for response in scanned), [r.status_code for r in scanned]
    assert scanned[0].json()["error"]["code"] == "NOT_FOUND"

    normal = _access_log_lines(topology, normal_agent)
    attack = _access_log_lines(topology, attack_agent)
    scan = _access_log_lines(topology, scan_agent)
    assert len(attack) == len(spelled) + len(burst) and len(scan) == len(scanned), (attack, scan)
    assert len(normal) >= 10, normal
    # The address a ban would take: nginx's peer ($remote_addr; the topology trusts no proxy), this run's own.
    assert {line.split(" ", 1)[0] for line in attack} == {_source(tag)}, attack
    # The request line keeps the client's spelling; the uri field, nginx's decoded and normalised path.
    for path, line in zip(SIGNIN_SPELLINGS, attack[: len(SIGNIN_SPELLINGS)], strict=True):
        assert f'"POST {path} HTTP/' in line and _status(line) == spelled[path], (path, line)
        assert ' uri="/api/v1/auth/' in line, line

    # Every failed sign-in counts, whatever the spelling; the app's 404 for a path it never routed to the
    # sign-in is no guess at a password and does not.
    failed = [line for line in attack if _status(line) in {401, 429}]
    assert _matched(config_dir, failed, "neurmatic-signin", tmp_path) == len(failed)
    unrouted = [line for line in attack if _status(line) == 404]
    assert _matched(config_dir, unrouted, "neurmatic-signin", tmp_path) == 0
    assert _matched(config_dir, scan, "neurmatic-scanner", tmp_path) == len(scan)
    for lines in (normal, scan):
        assert _matched(config_dir, lines, "neurmatic-signin", tmp_path) == 0
    for lines in (normal, attack):
        assert _matched(config_dir, lines, "neurmatic-scanner", tmp_path) == 0


# Samples in syslog's format, written here: no SSH server runs in the test. On the host the sshd jail reads
# the same messages from the journal (backend systemd).
SSHD_FAILURES = (
    "Jun 10 13:55:36 web sshd[4242]: Failed password for root from 198.51.100.7 port 51234 ssh2",
    "Jun 10 13:55:37 web sshd[4243]: Failed password for invalid user test from 198.51.100.7 port 51235 ssh2",
    "Jun 10 13:55:38 web sshd[4244]: Invalid user admin from 198.51.100.7 port 51236",
    "Jun 10 13:55:40 web sshd[4245]: error: maximum authentication attempts exceeded for root from "
    "198.51.100.7 port 51238 ssh2 [preauth]",
)
SSHD_NORMAL = (
    "Jun 10 14:00:01 web sshd[5000]: Accepted publickey for deploy from 192.0.2.10 port 50000 ssh2: "
    "ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg",
    "Jun 10 14:00:01 web sshd[5000]: pam_unix(sshd:session): session opened for user deploy(uid=1000)",
    "Jun 10 14:05:12 web sshd[5000]: Received disconnect from 192.0.2.10 port 50000:11: disconnected by user",
    "Jun 10 14:05:12 web sshd[5000]: Disconnected from user deploy 192.0.2.10 port 50000",
    # A client offering several keys before the right one: Debian's filter ignores it in mode normal.
    "Jun 10 14:06:00 web sshd[5001]: Failed publickey for deploy from 192.0.2.10 port 50002 ssh2: "
    "ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg",
    "Jun 10 14:06:00 web sshd[5001]: Accepted publickey for deploy from 192.0.2.10 port 50002 ssh2: "
    "RSA SHA256:cXV1eGZvb2JhcmJhenF1eHF1dXhmb29iYXJiYXpxdXg",
)


def test_debians_sshd_filter_matches_failed_logins_only(config_dir: Path, tmp_path: Path) -> None:
    assert _matched(config_dir, list(SSHD_FAILURES), "sshd", tmp_path) == len(SSHD_FAILURES)
    assert _matched(config_dir, list(SSHD_NORMAL), "sshd", tmp_path) == 0


def test_the_jail_file_passes_fail2ban_client_t(config_dir: Path) -> None:
    """Debian's base configuration plus ours, as one host's /etc/fail2ban: fail2ban's own check, and the
    jails it would start with the actions we chose (dumped, nothing is started)."""
    client = _program("fail2ban-client")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [client, "-c", str(config_dir), *args], capture_output=True, text=True, timeout=60, check=False
        )

    checked = run("-t")
    assert checked.returncode == 0 and "OK: configuration test is successful" in checked.stdout, checked
    dump = run("-d").stdout
    for jail in jails():
        assert f"['add', '{jail.name}', '{jail.backend}']" in dump, dump
    assert "hook prerouting priority -150" in dump and "saddr @<addr_set> drop" in dump
    assert "hook input priority -1" in dump  # sshd: Debian's default chain, the host's own port
