"""The fail2ban files as rendered: their paths, the jails' choices, and the filters kept in step with the
nginx config they read (its sign-in location and its log format). fail2ban itself judges them in
tests/integration/test_fail2ban_filters.py."""

from __future__ import annotations

import configparser
import re

from neurmatic.render.host.fail2ban import (
    EDGE_CHAIN,
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
    assert signin["action"].startswith("nftables-multiport[") and signin["port"] == "http,https"
    assert scanner["action"].startswith("nftables-allports[")
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
    assert log_format.endswith(
        '"$http_user_agent" id=$request_id rt=$request_time uct=$upstream_connect_time '
        "uht=$upstream_header_time urt=$upstream_response_time upstream=$upstream_addr "
        "cache=$upstream_cache_status"
    )
    scanner = fail2ban_files()[f"{BASE}/filter.d/neurmatic-scanner.conf"]
    assert "id=\\S+ rt=\\S+ uct=\\S+ uht=\\S+ urt=\\S+ upstream=- cache=" in scanner
