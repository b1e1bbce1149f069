"""The production host's settings files: they parse, the tools that read them accept them, the kernel has
every key (and takes the per-namespace ones for real, in a network namespace of their own), and the limits
agree with what nginx, Redis and PostgreSQL are configured to open."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from neurmatic.render.compose import render_compose
from neurmatic.render.host.settings import (
    AUTO_UPGRADES_PATH,
    FILE_LIMITS,
    LIMITS_PATH,
    NTP_SERVERS,
    SSHD_PATH,
    SYSCTL_PATH,
    TIMESYNCD_PATH,
    TUNNEL_TARGETS,
    UNATTENDED_PATH,
    FileLimit,
    host_settings_files,
    limit_for,
    systemd_limits_path,
)
from neurmatic.render.nginx import production_nginx_context, render_nginx
from neurmatic.render.postgres import PRODUCTION_SETTINGS
from neurmatic.render.production import redis_config
from neurmatic.supervisor.layout import MAX_API_INSTANCES, Ports
from tests.support import require_binary, unavailable

FILES = host_settings_files()
PROC_SYS = Path("/proc/sys")
# Processes PostgreSQL runs besides client backends: checkpointer, background writer, WAL writer,
# autovacuum launcher and its 3 workers, archiver, stats, logical replication launcher.
POSTGRES_AUXILIARY_PROCESSES = 10


def parse_sysctl(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"line {number} is not key = value: {raw!r}"
        assert key.strip() not in values, f"{key.strip()} set twice"
        values[key.strip()] = " ".join(value.split())
    return values


SYSCTL = parse_sysctl(FILES[SYSCTL_PATH])


def proc_path(key: str) -> Path:
    return PROC_SYS / key.replace(".", "/")


def config_value(text: str, directive: str, default: int) -> int:
    """A numeric directive of a Redis-style config (``name value``), or the server's default."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lower() == directive:
            return int(parts[1])
    return default


def nginx_backlogs() -> list[int]:
    """Each listen directive's backlog in the production nginx.conf (511 on Linux unless set)."""
    listens = re.findall(r"^\s*listen\s+([^;]+);", render_nginx(production_nginx_context()), re.MULTILINE)
    assert listens
    return [int(m.group(1)) if (m := re.search(r"backlog=(\d+)", x)) else 511 for x in listens]


def postgres_files_per_process() -> int:
    return int(PRODUCTION_SETTINGS.get("max_files_per_process", "1000"))


def postgres_processes() -> int:
    return (
        sum(
            int(PRODUCTION_SETTINGS[name])
            for name in ("max_connections", "max_worker_processes", "max_wal_senders")
        )
        + POSTGRES_AUXILIARY_PROCESSES
    )


# -- sysctl ---------------------------------------------------------------------------------------------


def test_every_sysctl_key_exists_on_this_kernel_and_has_its_reason() -> None:
    missing = [key for key in SYSCTL if not proc_path(key).exists()]
    assert missing == []
    for block in FILES[SYSCTL_PATH].split("\n\n")[1:]:  # after the header: a reason, then its keys
        assert block.startswith("# ") and re.search(r"^\S+ = ", block, re.MULTILINE), block
    assert SYSCTL["vm.overcommit_memory"] == "1"
    assert int(SYSCTL["vm.swappiness"]) <= 10
    assert SYSCTL["net.ipv4.tcp_syncookies"] == "1"


def test_somaxconn_admits_every_backlog_nginx_and_redis_ask_for() -> None:
    somaxconn = int(SYSCTL["net.core.somaxconn"])
    assert somaxconn >= config_value(redis_config(), "tcp-backlog", 511)
    assert somaxconn >= max(nginx_backlogs())
    assert int(SYSCTL["net.ipv4.tcp_max_syn_backlog"]) >= somaxconn


def test_the_file_budget_fits_fs_file_max_and_every_limit_fits_nr_open() -> None:
    granted = sum(limit.nofile for limit in FILE_LIMITS)
    postgres_total = postgres_processes() * postgres_files_per_process()
    assert int(SYSCTL["fs.file-max"]) >= granted + postgres_total
    nr_open = int((PROC_SYS / "fs/nr_open").read_text())
    assert max(limit.nofile for limit in FILE_LIMITS) <= nr_open  # setrlimit/LimitNOFILE cannot go above


def test_outgoing_ports_never_take_a_port_a_server_listens_on() -> None:
    low, high = (int(part) for part in SYSCTL["net.ipv4.ip_local_port_range"].split())
    assert 1024 < low < high <= 65535 and high - low >= 28000  # more than the kernel's default range
    assert max(Ports().all_ports(MAX_API_INSTANCES)) < low  # the single-host topology's servers
    reserved = {int(port) for port in SYSCTL["net.ipv4.ip_local_reserved_ports"].split(",")}
    compose = render_compose()
    published = {
        int(port) for port in re.findall(r'^\s*-\s*"(?:[\d.]+:)?(\d+):\d+"\s*$', compose, re.MULTILINE)
    }
    assert {80, 443, 3000, 5432} <= published
    listened = published | {26379, 6379, 5432, 2379, 2380, 8008}
    assert all(port < low or port in reserved for port in listened), sorted(listened)


def run_in_new_netns(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    unshare = require_binary("unshare", "/usr/bin/unshare")
    return subprocess.run(
        [unshare, "--net", "sh", "-c", script, "sh", *args], capture_output=True, text=True, timeout=30
    )


def test_the_net_settings_apply_for_real_in_a_network_namespace_of_their_own(tmp_path: Path) -> None:
    """net.* sysctls visible in a fresh network namespace are that namespace's own: applying them there
    leaves the machine untouched. The others (e.g. netdev_max_backlog) are global: only checked to exist."""
    sysctl = require_binary("sysctl", "/usr/sbin/sysctl", "/sbin/sysctl")
    net_keys = [key for key in SYSCTL if key.startswith("net.")]
    probe = run_in_new_netns(
        'for key; do test -e "/proc/sys/$(echo "$key" | tr . /)" && echo "$key"; done; true', *net_keys
    )
    if probe.returncode != 0 or os.geteuid() != 0:
        unavailable(f"cannot make a network namespace (root and unshare --net needed): {probe.stderr}")
    per_namespace = probe.stdout.split()
    assert {"net.core.somaxconn", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies"} <= set(
        per_namespace
    )
    assert set(net_keys) - set(per_namespace) <= {"net.core.netdev_max_backlog"}
    conf = tmp_path / "net.conf"
    conf.write_text("".join(f"{key} = {SYSCTL[key]}\n" for key in per_namespace))
    host_somaxconn = proc_path("net.core.somaxconn").read_text()

    script = f'conf="$1"; shift; {sysctl} -q -p "$conf" && {sysctl} -n "$@"'
    applied = run_in_new_netns(script, str(conf), *per_namespace)
    assert applied.returncode == 0 and not applied.stderr, applied.stderr
    read_back = applied.stdout.splitlines()  # `sysctl -n k1 k2 …`: one value a line, in order
    assert {key: " ".join(value.split()) for key, value in zip(per_namespace, read_back, strict=True)} == {
        key: SYSCTL[key] for key in per_namespace
    }
    assert proc_path("net.core.somaxconn").read_text() == host_somaxconn  # the machine's own: untouched


# -- open-file limits -------------------------------------------------------------------------------------


def test_limits_conf_grants_soft_and_hard_nofile_to_each_account() -> None:
    entries = [
        line.split() for line in FILES[LIMITS_PATH].splitlines() if line.strip() and not line.startswith("#")
    ]
    assert all(len(entry) == 4 and entry[2] == "nofile" for entry in entries)
    granted = {(user, kind): int(value) for user, kind, _, value in entries}
    for user in ("nginx", "postgres", "redis", "neurmatic"):
        assert granted[(user, "soft")] == granted[(user, "hard")] == limit_for(user).nofile


@pytest.mark.parametrize("limit", [limit for limit in FILE_LIMITS if limit.unit], ids=lambda x: x.user)
def test_each_systemd_drop_in_sets_the_same_limit_nofile(limit: FileLimit) -> None:
    assert limit.unit
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(FILES[systemd_limits_path(limit.unit)])
    assert unit.sections() == ["Service"]
    assert dict(unit["Service"]) == {"LimitNOFILE": str(limit.nofile)}


def test_nginx_worker_rlimit_nofile_fits_the_nginx_limit() -> None:
    context = production_nginx_context()
    rendered = int(re.findall(r"^worker_rlimit_nofile (\d+);", render_nginx(context), re.MULTILINE)[0])
    assert rendered == context.worker_connections * 2
    assert rendered <= limit_for("nginx").nofile


def test_redis_maxclients_fits_the_redis_limit() -> None:
    maxclients = config_value(redis_config(), "maxclients", 10000)
    assert maxclients + 32 <= limit_for("redis").nofile  # else Redis lowers maxclients at start


def test_each_postgres_process_fits_the_postgres_limit() -> None:
    """The limit is per process: every backend may open max_files_per_process files of its own, plus its
    client socket and what it inherits; the system-wide total is the fs.file-max budget above."""
    assert postgres_files_per_process() + 64 <= limit_for("postgres").nofile


# -- sshd ---------------------------------------------------------------------------------------------------


def sshd_check(tmp_path: Path, drop_in_name: str) -> dict[str, str]:
    """`sshd -t` then `sshd -T` of a main config like Debian's that includes our drop-in beside a
    cloud-init one turning passwords back on; ``/run/sshd`` comes from a private mount namespace."""
    sshd = require_binary("sshd", "/usr/sbin/sshd")
    keygen = require_binary("ssh-keygen", "/usr/bin/ssh-keygen")
    drop_ins = tmp_path / "sshd_config.d"
    drop_ins.mkdir()
    (drop_ins / drop_in_name).write_text(FILES[SSHD_PATH])
    (drop_ins / "50-cloud-init.conf").write_text("PasswordAuthentication yes\nPermitRootLogin yes\n")
    config = tmp_path / "sshd_config"
    config.write_text(f"Include {drop_ins}/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n")
    host_key = tmp_path / "host_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True, timeout=30)
    command = f'{sshd} -t -f "$1" -h "$2" && {sshd} -T -f "$1" -h "$2"'
    if not Path("/run/sshd").is_dir():  # sshd refuses to run without its privilege separation directory
        if os.geteuid() != 0 or not shutil.which("unshare"):
            unavailable("sshd -t needs /run/sshd (or root, to make one in a private mount namespace)")
        command = f"mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && {command}"
        argv = ["unshare", "--mount", "sh", "-c", command, "sh", str(config), str(host_key)]
    else:
        argv = ["sh", "-c", command, "sh", str(config), str(host_key)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_sshd_accepts_the_drop_in_and_it_wins_over_cloud_init(tmp_path: Path) -> None:
    effective = sshd_check(tmp_path, Path(SSHD_PATH).name)
    assert effective["passwordauthentication"] == "no"
    assert effective["permitrootlogin"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["pubkeyauthentication"] == "yes"
    assert effective["authenticationmethods"] == "publickey"
    assert effective["maxauthtries"] == "3"
    assert effective["x11forwarding"] == "no"
    assert effective["allowtcpforwarding"] == "local"
    assert effective["permitopen"].split() == list(TUNNEL_TARGETS)


def test_a_drop_in_named_after_cloud_init_would_lose(tmp_path: Path) -> None:
    """Why the file is 10-neurmatic.conf: sshd keeps the first value, and 60- sorts after 50-cloud-init."""
    assert sshd_check(tmp_path, "60-neurmatic.conf")["passwordauthentication"] == "yes"


def test_ssh_tunnels_reach_exactly_the_loopback_ports_compose_publishes() -> None:
    compose = render_compose()
    for target in TUNNEL_TARGETS:
        host, port = target.split(":")
        assert f'"{host}:{port}:{port}"' in compose, target


# -- unattended upgrades, time ------------------------------------------------------------------------


def test_apt_reads_the_upgrade_files_and_keeps_security_origins_only(tmp_path: Path) -> None:
    """apt-config reads the files as apt and unattended-upgrades will: after the package's default
    50unattended-upgrades (here its origins list), in a private Dir::Etc::parts."""
    apt_config = require_binary("apt-config", "/usr/bin/apt-config")
    parts = tmp_path / "apt.conf.d"
    parts.mkdir()
    (parts / "50unattended-upgrades").write_text(
        "Unattended-Upgrade::Origins-Pattern {\n"
        '        "origin=Debian,codename=${distro_codename},label=Debian";\n'
        '        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n};\n'
    )
    for path in (UNATTENDED_PATH, AUTO_UPGRADES_PATH):
        (parts / Path(path).name).write_text(FILES[path])
    main = tmp_path / "apt.conf"
    main.write_text(f'Dir::Etc::parts "{parts}";\nDir::Etc::main "/dev/null";\n')
    result = subprocess.run(
        [apt_config, "dump"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "APT_CONFIG": str(main)},
    )
    assert result.returncode == 0 and "E:" not in result.stderr, result.stderr
    dump = dict(line.rstrip(";").split(" ", 1) for line in result.stdout.splitlines())
    origins = [
        value.strip('"')
        for line in result.stdout.splitlines()
        if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")
        for value in [line.rstrip(";").split(" ", 1)[1]]
    ]
    assert origins and all("label=Debian-Security" in origin for origin in origins)
    assert dump["Unattended-Upgrade::Automatic-Reboot"] == '"false"'
    assert dump["Unattended-Upgrade::Mail"] == '"root"'
    assert dump["Unattended-Upgrade::MailReport"] == '"only-on-error"'
    assert dump["APT::Periodic::Update-Package-Lists"] == '"1"'
    assert dump["APT::Periodic::Unattended-Upgrade"] == '"1"'


def test_timesyncd_uses_the_debian_pool() -> None:
    config = configparser.ConfigParser(strict=True, interpolation=None)
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read_string(FILES[TIMESYNCD_PATH])
    assert config.sections() == ["Time"]
    assert config["Time"]["NTP"].split() == list(NTP_SERVERS)
    assert all(server.endswith(".debian.pool.ntp.org") for server in NTP_SERVERS)
    assert config["Time"]["FallbackNTP"]
