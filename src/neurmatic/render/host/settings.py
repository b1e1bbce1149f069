"""A production web host's kernel, limits, SSH, upgrade and clock settings, each value with its reason.

One typed source (:data:`SYSCTLS`, :data:`FILE_LIMITS`, :data:`SSHD`, :data:`NTP_SERVERS`) and
:func:`host_settings_files`, the drop-in files an operator (or a configuration tool) installs under
``/etc``. The values are tied to the servers' own: nginx's ``worker_rlimit_nofile`` (``render.nginx``),
Redis's ``maxclients`` and ``tcp-backlog`` (Redis's defaults: ``templates/redis.conf.j2`` sets neither) and
PostgreSQL's ``max_connections`` (``render.postgres``); ``tests/ops/test_host_settings.py`` checks that they
agree. Log rotation is ``render.logrotate`` (``/etc/logrotate.d/neurmatic``), not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurmatic.render import render_template


@dataclass(frozen=True)
class Setting:
    """One ``key = value`` line and why it has that value."""

    key: str
    value: str
    why: str


@dataclass(frozen=True)
class FileLimit:
    """Open-file limit for one account, and the systemd unit (if any) its server runs under."""

    user: str
    nofile: int
    why: str
    unit: str | None = None  # e.g. "postgresql@": the drop-in goes to <unit>.service.d/


# What the servers themselves ask for (the values the limits below are sized against).
REDIS_MAXCLIENTS = 10000  # Redis's default; templates/redis.conf.j2 does not set it
REDIS_RESERVED_FDS = 32  # Redis keeps this many descriptors for itself beyond maxclients
REDIS_TCP_BACKLOG = 511  # Redis's default tcp-backlog
NGINX_LISTEN_BACKLOG = 511  # nginx's default on Linux: nginx.conf.j2's listen lines set no backlog=
POSTGRES_MAX_FILES_PER_PROCESS = 1000  # PostgreSQL's default, per backend process

SOMAXCONN = 4096

SYSCTLS: tuple[Setting, ...] = (
    # Queues
    Setting(
        "net.core.somaxconn",
        str(SOMAXCONN),
        "The cap on every listen() backlog: nginx (511 unless its listen sets backlog=) and Redis "
        "(tcp-backlog 511) get the queue they ask for, with room to raise nginx's backlog= to 4096.",
    ),
    Setting(
        "net.ipv4.tcp_max_syn_backlog",
        "8192",
        "Half-open connections kept per listener during a burst of new clients, before syncookies take over.",
    ),
    Setting(
        "net.core.netdev_max_backlog",
        "16384",
        "Packets queued per CPU when the NIC delivers faster than the kernel processes them: the default "
        "1000 drops packets in traffic bursts.",
    ),
    # Connections out (nginx to the API instances, the API to PostgreSQL and Redis)
    Setting(
        "net.ipv4.ip_local_port_range",
        "20000 65535",
        "Local ports for outgoing connections: 45,000 instead of 28,000 for nginx's upstream and the API's "
        "database and Redis connections. It starts above every port a server here listens on (80, 443, "
        "2379, 3000, 5432, 6379, 8008, 9090-9187, and a single-host topology's 18000-18999), so a client "
        "socket never takes a server's port before the server binds it.",
    ),
    Setting(
        "net.ipv4.ip_local_reserved_ports",
        "26379",
        "Redis Sentinel's port is inside the range above: reserved so only Sentinel can bind it.",
    ),
    Setting(
        "net.ipv4.tcp_fin_timeout",
        "15",
        "Sockets closed by us leave FIN-WAIT-2 after 15 s instead of 60: many short upstream connections.",
    ),
    Setting(
        "net.ipv4.tcp_tw_reuse",
        "1",
        "Outgoing connections may reuse a port in TIME-WAIT when TCP timestamps prove it safe (the default 2 "
        "allows it on loopback only): nginx and the API open many short connections to the same servers.",
    ),
    # Hardening
    Setting(
        "net.ipv4.tcp_syncookies", "1", "Answer a SYN flood with cookies instead of dropping real clients."
    ),
    *(
        Setting(
            f"net.ipv4.conf.{scope}.rp_filter",
            "1",
            "Drop packets whose source address would not be routed back out of the interface they came in "
            "on (spoofed sources). Use 2 (loose) on a host with asymmetric routing.",
        )
        for scope in ("all", "default")
    ),
    *(
        Setting(
            f"net.{family}.conf.{scope}.accept_redirects",
            "0",
            "ICMP redirects could re-route this host's traffic; its routes are static.",
        )
        for family in ("ipv4", "ipv6")
        for scope in ("all", "default")
    ),
    *(
        Setting(
            f"net.ipv4.conf.{scope}.secure_redirects",
            "0",
            "Not even from the default gateways: no redirects at all.",
        )
        for scope in ("all", "default")
    ),
    *(
        Setting(
            f"net.ipv4.conf.{scope}.send_redirects",
            "0",
            "The host forwards only for its own containers (Docker keeps ip_forward at 1); it is no router.",
        )
        for scope in ("all", "default")
    ),
    *(
        Setting(
            f"net.{family}.conf.{scope}.accept_source_route",
            "0",
            "A sender must not choose the route its packets take through this host.",
        )
        for family in ("ipv4", "ipv6")
        for scope in ("all", "default")
    ),
    # Memory and files (system-wide: also what the containers get)
    Setting(
        "vm.overcommit_memory",
        "1",
        "Redis forks for BGSAVE, AOF rewrites and a replica's full sync; the child shares the parent's "
        "pages, but with the default heuristic the fork of a large Redis can fail (and the save with it). "
        "Redis's startup warning asks for 1.",
    ),
    Setting(
        "vm.swappiness",
        "10",
        "Keep PostgreSQL's and Redis's memory in RAM: a swapped-out page turns a 1 ms query into a disk "
        "read. Not 0, which gives the OOM killer the choice before any swap.",
    ),
    Setting(
        "fs.file-max",
        "9223372036854775807",
        "No system-wide cap below the per-process limits (limits.d, the systemd drop-ins), which are the "
        "real bounds. This is what systemd already sets at boot; stated so that no finite value from an old "
        "tuning guide (less than PostgreSQL alone may open: max_connections x max_files_per_process) stays.",
    ),
)

FILE_LIMITS: tuple[FileLimit, ...] = (
    FileLimit(
        "nginx",
        16384,
        "Twice worker_rlimit_nofile (8192 = 2 x worker_connections 4096: a client and an upstream "
        "descriptor per proxied request), for the master's logs, listeners and cache files.",
        unit="nginx",
    ),
    FileLimit(
        "postgres",
        8192,
        "Per process: each backend opens at most max_files_per_process (1000) files; the system-wide total "
        "(max_connections x 1000) is fs.file-max's to allow, not this. Room for pgBackRest's processes.",
        unit="postgresql@",
    ),
    FileLimit(
        "redis",
        65536,
        "Redis needs maxclients + 32 (10032 with the default maxclients 10000) or it lowers maxclients at "
        "start; Debian's redis-server.service already sets 65535, which this keeps (never lowers).",
        unit="redis-server",
    ),
    FileLimit(
        "neurmatic",
        65536,
        "The service account: the ops CLI, backups, and the servers of a single-host topology (`neurmatic "
        "up` as root runs them as this account). Each open WebSocket holds a descriptor.",
    ),
)

# The loopback-only ports docker-compose.production.yml publishes (Grafana, Prometheus, Alertmanager):
# the runbook reaches them with `ssh -L`, so local forwarding stays allowed, to these and nothing else.
TUNNEL_TARGETS = ("127.0.0.1:3000", "127.0.0.1:9090", "127.0.0.1:9093")

SSHD: tuple[Setting, ...] = (
    Setting("PubkeyAuthentication", "yes", "Keys are the only way in."),
    Setting("AuthenticationMethods", "publickey", "Even if another file turns passwords back on."),
    Setting("PasswordAuthentication", "no", "Passwords can be guessed, phished and reused; keys cannot."),
    Setting("KbdInteractiveAuthentication", "no", "PAM's password prompt is a password login too."),
    Setting("PermitEmptyPasswords", "no", "Never, whatever PAM says."),
    Setting("PermitRootLogin", "no", "Sign in as yourself and use sudo: every root action has a name."),
    Setting("MaxAuthTries", "3", "An agent offering many keys fails fast; a scanner gets three tries."),
    Setting("LoginGraceTime", "30", "Unauthenticated connections are dropped after 30 s."),
    Setting("MaxStartups", "10:30:60", "Refuse more and more of a flood of unauthenticated connections."),
    Setting("X11Forwarding", "no", "No graphical programs run on a server."),
    Setting("AllowAgentForwarding", "no", "A root on this host could use a forwarded agent's keys."),
    Setting(
        "AllowTcpForwarding",
        "local",
        "`ssh -L` only (the runbook's tunnels to Grafana, Prometheus, Alertmanager); no -R: a session "
        "must not open a port on this host into the operator's network.",
    ),
    Setting(
        "PermitOpen",
        " ".join(TUNNEL_TARGETS),
        "A tunnel reaches the loopback-only dashboards, never PostgreSQL, Redis, etcd or Patroni's API.",
    ),
    Setting(
        "AllowStreamLocalForwarding",
        "no",
        "Forwarding /var/run/docker.sock would give anyone with a login root on this host.",
    ),
    Setting("PermitTunnel", "no", "No tun/tap devices: the host is no VPN."),
    Setting(
        "ClientAliveInterval",
        "300",
        "Probe a silent client every 5 minutes and drop it after ClientAliveCountMax unanswered probes: "
        "a dead laptop's session does not stay open for days.",
    ),
    Setting("ClientAliveCountMax", "2", "Two missed probes: a dead session ends within 10 minutes."),
    Setting("LogLevel", "VERBOSE", "Log the fingerprint of the key each login used: who it was."),
)

# systemd-timesyncd (Debian 12's default client); the Debian pool, four names for four servers.
NTP_SERVERS = tuple(f"{n}.debian.pool.ntp.org" for n in range(4))

SYSCTL_PATH = "infrastructure/host/sysctl.d/60-neurmatic.conf"
LIMITS_PATH = "infrastructure/host/security/limits.d/60-neurmatic.conf"
# sshd keeps the FIRST value it reads for a keyword, and reads sshd_config.d/*.conf in name order: a
# 60-… file would lose to e.g. cloud-init's 50-cloud-init.conf (PasswordAuthentication yes). Hence 10-.
SSHD_PATH = "infrastructure/host/ssh/sshd_config.d/10-neurmatic.conf"
UNATTENDED_PATH = "infrastructure/host/apt/apt.conf.d/52neurmatic-unattended-upgrades"
AUTO_UPGRADES_PATH = "infrastructure/host/apt/apt.conf.d/20auto-upgrades"
TIMESYNCD_PATH = "infrastructure/host/timesyncd.conf.d/60-neurmatic.conf"


def systemd_limits_path(unit: str) -> str:
    return f"infrastructure/host/systemd/{unit}.service.d/limits.conf"


def limit_for(user: str) -> FileLimit:
    return next(limit for limit in FILE_LIMITS if limit.user == user)


def sysctl_values() -> dict[str, str]:
    return {setting.key: setting.value for setting in SYSCTLS}


def host_settings_files() -> dict[str, str]:
    """Every host settings file, by its path relative to the project root."""
    files = {
        SYSCTL_PATH: render_template("host/sysctl.conf.j2", settings=SYSCTLS),
        LIMITS_PATH: render_template("host/limits.conf.j2", limits=FILE_LIMITS),
        SSHD_PATH: render_template("host/sshd_config.j2", settings=SSHD),
        UNATTENDED_PATH: render_template("host/unattended-upgrades.j2"),
        AUTO_UPGRADES_PATH: render_template("host/auto-upgrades.j2"),
        TIMESYNCD_PATH: render_template("host/timesyncd.conf.j2", servers=NTP_SERVERS),
    }
    for limit in FILE_LIMITS:
        if limit.unit:
            files[systemd_limits_path(limit.unit)] = render_template(
                "host/systemd-limits.conf.j2", limit=limit
            )
    return files
