"""The fail2ban files as rendered: their paths, the jails' choices, and the filters kept in step with the
nginx config they read (its sign-in location and its log format). fail2ban itself judges them in
tests/integration/test_fail2ban_filters.py."""

from __future__ import annotations

import configparser
import re

import pytest

from neurmatic.errors import ConfigurationError
from neurmatic.render.host.fail2ban import (
    EDGE_CHAIN,
    IGNORE_ADDRESSES,
    NGINX_ACCESS_LOG,
    SIGNIN_PATH_REGEX,
    SIGNIN_PATHS,
    fail2ban_files,
)
from neurmatic.render.nginx import production_nginx_context, render_nginx

BASE = "infrastructure/host/fail2ban"


def _parsed(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_the_files_and_their_paths() -> None:
    files = fail2ban_files()
    assert set(files) == {
        f"{BASE}/filter.d/neurmatic-signin.conf",
        f"{BASE}/filter.d/neurmatic-scanner.conf",
        f"{BASE}/jail.d/neurmatic.local",
    }
    for text in files.values():
        assert text.startswith("# Rendered by neurmatic from templates/host/fail2ban/")
        assert "{{" not in text and "{%" not in text


def test_the_jails() -> None:
    jail = _parsed(fail2ban_files()[f"{BASE}/jail.d/neurmatic.local"])
    assert jail["DEFAULT"]["banaction"] == "nftables-multiport"
    assert jail["DEFAULT"]["banaction_allports"] == "nftables-allports"
    signin, scanner, sshd = jail["neurmatic-signin"], jail["neurmatic-scanner"], jail["sshd"]
    assert (signin["maxretry"], signin["findtime"], signin["bantime"]) == ("10", "10m", "1h")
    assert (scanner["maxretry"], scanner["findtime"], scanner["bantime"]) == ("20", "1m", "1d")
    assert (sshd["maxretry"], sshd["findtime"], sshd["bantime"]) == ("5", "10m", "1h")
    assert sshd["backend"] == "systemd" and "logpath" not in sshd and "filter" not in sshd
    for section in (signin, scanner):
        assert section["logpath"] == NGINX_ACCESS_LOG
        # Published container ports never reach the input hook: the edge jails drop in prerouting.
        assert f'chain="{EDGE_CHAIN}", chain_hook="prerouting"' in section["action"]
        assert 'blocktype="drop"' in section["action"]
    # The web ports only, never SSH: an address many share (CGNAT, an office) must keep its way in.
    for section in (signin, scanner):
        assert section["action"].startswith("nftables-multiport[") and section["port"] == "http,https"
    assert jail["DEFAULT"]["ignoreip"] == "127.0.0.0/8 ::1/128"
    # A fresh host has no access log yet, and fail2ban would not start without it: the file says so.
    assert f"touch {NGINX_ACCESS_LOG}" in fail2ban_files()[f"{BASE}/jail.d/neurmatic.local"]
    assert all(jail[name]["enabled"] == "true" for name in ("neurmatic-signin", "neurmatic-scanner", "sshd"))


def test_the_signin_filter_covers_the_paths_nginx_limits_as_sign_ins() -> None:
    nginx = render_nginx(production_nginx_context())
    assert f"location ~ ^/(?:{SIGNIN_PATH_REGEX})$ {{" in nginx
    paths = re.compile(f"^/(?:{SIGNIN_PATH_REGEX})$")
    assert all(paths.match(path) for path in SIGNIN_PATHS)
    assert not paths.match("/api/v1/auth/register")
    signin = fail2ban_files()[f"{BASE}/filter.d/neurmatic-signin.conf"]
    assert f"signin_path = /(?:{SIGNIN_PATH_REGEX})" in signin


def test_the_filters_read_the_log_format_nginx_writes() -> None:
    """The scanner filter reads the fields after the user agent; the date pattern is $time_local."""
    nginx = render_nginx(production_nginx_context())
    log_format = "".join(re.findall(r"'([^']*)'", nginx.split("log_format neurmatic", 1)[1].split(";")[0]))
    assert log_format.startswith('$remote_addr - $remote_user [$time_local] "$request" $status ')
    # uri= before id=: it may hold spaces and "upstream=", and the parsers of the later fields
    # (ops/flows/releases/traffic.py, bench/load/edge.py) take their last occurrence.
    assert log_format.endswith(
        '"$http_user_agent" uri="$uri" id=$request_id rt=$request_time uct=$upstream_connect_time '
        "uht=$upstream_header_time urt=$upstream_response_time upstream=$upstream_addr "
        "cache=$upstream_cache_status"
    )
    scanner = fail2ban_files()[f"{BASE}/filter.d/neurmatic-scanner.conf"]
    assert (
        'uri="(?!/assets/|/\\.well-known/)[^"]*" id=\\S+ rt=\\S+ uct=\\S+ uht=\\S+ urt=\\S+ upstream=- cache='
        in scanner
    )
    signin = fail2ban_files()[f"{BASE}/filter.d/neurmatic-signin.conf"]
    assert '"[^"]*" "[^"]*" uri="%(signin_path)s" id=' in signin


def test_ignore_addresses_fill_ignoreip() -> None:
    files = fail2ban_files(
        ignore_addresses=(*IGNORE_ADDRESSES, "203.0.113.7", "2001:db8::/48", "203.0.113.7/32")
    )
    jail = _parsed(files[f"{BASE}/jail.d/neurmatic.local"])
    assert jail["DEFAULT"]["ignoreip"] == "127.0.0.0/8 ::1/128 203.0.113.7/32 2001:db8::/48"


@pytest.mark.parametrize(
    ("address", "hint"),
    [
        ("office", "write e.g. 203.0.113.7"),
        ("203.0.113.300", "write e.g. 203.0.113.7"),
        ("203.0.113.7/24", "did you mean 203.0.113.0/24?"),
        ("0.0.0.0/0", "no one could ever be banned"),
    ],
)
def test_a_bad_ignore_address_is_refused_with_a_hint(address: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        fail2ban_files(ignore_addresses=(*IGNORE_ADDRESSES, address))
    assert repr(address) in raised.value.message
    assert raised.value.hint is not None and hint in raised.value.hint


def _failregex(name: str) -> re.Pattern[str]:
    """A filter's failregex as Python reads it (fail2ban's <HOST> and %(...)s filled in)."""
    definition = _parsed(fail2ban_files()[f"{BASE}/filter.d/{name}.conf"])["Definition"]
    regex = definition["failregex"].replace("%(signin_path)s", definition.get("signin_path", ""))
    return re.compile(regex.replace("<HOST>", r"(?P<host>\S+)"))


def _line(request: str, status: int, uri: str, agent: str = "curl/8", upstream: str = "10.0.0.5:8000") -> str:
    return (
        f'198.51.100.7 - - [10/Jun/2026:13:55:36 +0000] "{request}" {status} 118 "-" "{agent}" uri="{uri}" '
        f"id=5cc78f06 rt=0.696 uct=0.000 uht=0.696 urt=0.696 upstream={upstream} cache=-"
    )


def test_the_signin_filter_reads_nginx_s_decoded_path_not_the_request_line() -> None:
    signin = _failregex("neurmatic-signin")
    for raw, uri in (
        ("/api/v1/auth/%6cogin", "/api/v1/auth/login"),
        ("//api/v1/auth/login", "/api/v1/auth/login"),
        ("/api/v1/./auth/login", "/api/v1/auth/login"),
        ("/api/v1/auth/login?next=/", "/api/v1/auth/login"),
        ("/api/v1/auth/2fa/%63hallenge", "/api/v1/auth/2fa/challenge"),
        ("/admin/login", "/admin/login"),
    ):
        for status in (401, 429):
            assert signin.match(_line(f"POST {raw} HTTP/2.0", status, uri)), (raw, status)
    assert not signin.match(_line("GET /admin/login HTTP/2.0", 401, "/admin/login"))
    assert not signin.match(_line("POST /api/v1/auth/login HTTP/2.0", 200, "/api/v1/auth/login"))
    assert not signin.match(_line("POST //api/v1/auth/login HTTP/2.0", 404, "/api/v1/auth/login"))
    assert not signin.match(_line("POST /api/v1/auth/register HTTP/2.0", 401, "/api/v1/auth/register"))
    # A path written into the request line or the user agent is not the uri field.
    assert not signin.match(_line("POST /x/api/v1/auth/login HTTP/2.0", 401, "/x/api/v1/auth/login"))
    forged = "x\\x22 uri=\\x22/api/v1/auth/login"
    assert not signin.match(_line("POST /api/v1/articles HTTP/2.0", 401, "/api/v1/articles", agent=forged))


def test_the_scanner_filter_reads_nginx_s_decoded_path() -> None:
    scanner = _failregex("neurmatic-scanner")
    assert scanner.match(_line("GET /%2eenv HTTP/1.1", 404, "/.env", upstream="-"))
    assert scanner.match(_line("GET /assets/../.env HTTP/1.1", 404, "/.env", upstream="-"))
    assert not scanner.match(
        _line("GET /assets/index-0.js HTTP/1.1", 404, "/assets/index-0.js", upstream="-")
    )
    assert not scanner.match(
        _line("GET /.well-known/security.txt HTTP/1.1", 404, "/.well-known/security.txt", upstream="-")
    )
    assert not scanner.match(_line("GET /api/v1/articles/x HTTP/1.1", 404, "/api/v1/articles/x"))
