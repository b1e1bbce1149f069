"""The production compose file's PostgreSQL HA, run without Docker: the rendered etcd flags and Patroni
configs as they ship, each service in a network namespace of its own on a bridge of the compose subnet,
found by its compose name, with the environment compose would give it.

Root only, in private mount and network namespaces::

    unshare --mount --net --propagation private python -m tests.compose_network WORKDIR

Exits 0 once the cluster bootstrapped (the application's role and database made by the image's hook),
the application wrote through the compose ``DATABASE_URL``, a switchover and a crash of the leader each
handed the lead to the other node, and every node ended as leader or streaming standby with every row.
What differs from the containers is only what must: the etcd binary is Debian's and Patroni is this
venv's (the image pins the same version), etcd's data directory is under WORKDIR, and each node's image
paths (data volume, socket directory, hook, /tmp) are private mounts of its own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import yaml

from neurmatic.adapters.patroni import Cluster, PatroniApi
from neurmatic.polling import poll
from neurmatic.render.compose import DATABASE_NODES, ETCD_MEMBERS
from neurmatic.render.postgres import PRODUCTION_DATABASE
from neurmatic.render.production import PATRONI_POST_BOOTSTRAP, production_files

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_USER = "neurmatic"  # PostgreSQL refuses root; the local topology's account
BUDGET_SECONDS = 480
ADDRESSES = {
    **{name: f"172.21.0.{11 + i}" for i, name in enumerate(ETCD_MEMBERS)},
    **{name: f"172.21.0.{21 + i}" for i, name in enumerate(DATABASE_NODES)},
}
SECRETS = {
    name: secrets.token_urlsafe(24)
    for name in (
        "POSTGRES_PASSWORD",
        "POSTGRES_SUPERUSER_PASSWORD",
        "REPLICATOR_PASSWORD",
        "PATRONI_RESTAPI_PASSWORD",
        "METRICS_DB_PASSWORD",
    )
}
SECRETS["POSTGRES_USER"] = "neurmatic_prod"


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def interpolate(value: object) -> str:
    """Compose's ``${NAME}`` / ``${NAME:-default}`` interpolation from SECRETS."""

    def one(match: re.Match[str]) -> str:
        return SECRETS.get(match.group(1), match.group(2) or "")

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", one, str(value))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    polled = poll(check, timeout=timeout, interval=0.5)
    assert polled.done, f"timed out waiting for {what} ({polled.why})"


class Network:
    """The compose network: a bridge in this namespace, a namespace per service attached to it."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        Path("/run/netns").mkdir(exist_ok=True)
        run("mount", "-t", "tmpfs", "tmpfs", "/run/netns")  # our `ip netns` names, none of the host's
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "br0", "type", "bridge")
        run("ip", "addr", "add", "172.21.0.1/16", "dev", "br0")
        run("ip", "link", "set", "br0", "up")
        hosts = work / "hosts"
        hosts.write_text(
            "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in ADDRESSES.items())
        )
        run("mount", "--bind", str(hosts), "/etc/hosts")
        for name, address in ADDRESSES.items():
            run("ip", "netns", "add", name)
            run("ip", "link", "add", f"v-{name}", "type", "veth", "peer", "name", "eth0", "netns", name)
            run("ip", "link", "set", f"v-{name}", "master", "br0", "up")
            run("ip", "-n", name, "addr", "add", f"{address}/16", "dev", "eth0")
            run("ip", "-n", name, "link", "set", "eth0", "up")
            run("ip", "-n", name, "link", "set", "lo", "up")

    def start(self, name: str, script: str, env: dict[str, str]) -> None:
        log = (self.work / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", name, "sh", "-c", script],
            env={"PATH": os.environ["PATH"], **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        """SIGKILL every process of the service (Patroni and its PostgreSQL alike): the container dies."""
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        self.processes.pop(name).wait(timeout=30)

    def kill_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)


def start_etcd(network: Network, compose: dict[str, Any]) -> None:
    for name in ETCD_MEMBERS:
        command = [shutil.which("etcd") or "etcd"] + [
            f"--data-dir={network.work / name}" if flag.startswith("--data-dir=") else flag
            for flag in compose["services"][name]["command"][1:]
        ]
        network.start(name, "exec " + shlex.join(command), {})
    for name in ETCD_MEMBERS:
        wait_for(f"{name} healthy", partial(etcd_healthy, name), 60)


def etcd_healthy(name: str) -> bool:
    """etcd's own /health: the member answers and the cluster has a leader."""
    return b'"true"' in _get(f"http://{name}:2379/health")


def start_node(network: Network, compose: dict[str, Any], node: str) -> None:
    """The node's container: its volume, socket directory and /tmp private; the image's hook in place."""
    service = compose["services"][node]
    env = {key: interpolate(value) for key, value in service["environment"].items()}
    data = network.work / f"{node}-data"
    data.mkdir(mode=0o700, exist_ok=True)
    os.chown(data, *_ids())
    config = network.work / f"{node}.yml"
    config.write_text(production_files()[f"infrastructure/patroni/{node}.yml"])
    hook_dir = Path(PATRONI_POST_BOOTSTRAP).parent
    script = " && ".join(
        [
            "mount -t tmpfs -o mode=0755 tmpfs /var/lib/postgresql",
            "mkdir /var/lib/postgresql/data",
            f"mount --bind {data} /var/lib/postgresql/data",
            f"cp {config} /var/lib/postgresql/patroni.yml",
            f"mount -t tmpfs -o mode=0755 tmpfs {hook_dir}",
            f"install -m 0755 {ROOT / 'infrastructure/patroni/post-bootstrap.sh'} {PATRONI_POST_BOOTSTRAP}",
            # The checkout may itself live under /tmp (a CI clone): keep it visible through the private
            # /tmp by parking a bind of it first and putting it back at its own path afterwards.
            "mkdir /var/lib/postgresql/checkout",
            f"mount --bind {ROOT} /var/lib/postgresql/checkout",
            "mount -t tmpfs -o mode=1777 tmpfs /tmp",
            f"mkdir -p {ROOT}",
            f"mount --bind /var/lib/postgresql/checkout {ROOT}",
            "mount -t tmpfs -o mode=2777 tmpfs /var/run/postgresql",
            f"chown {SERVICE_USER} /var/run/postgresql",
            f"exec runuser -u {SERVICE_USER} -- {ROOT / '.venv/bin/patroni'} /var/lib/postgresql/patroni.yml",
        ]
    )
    network.start(node, script, {**env, "PATH": f"{PG_BIN}:{os.environ['PATH']}"})


def _ids() -> tuple[int, int]:
    entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def healthy(compose: dict[str, Any], name: str) -> None:
    """The service's compose healthcheck, run in its namespace (the image's binary, or this machine's)."""
    test = compose["services"][name]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    program = test[1] if Path(test[1]).exists() else shutil.which(Path(test[1]).name) or test[1]
    result = subprocess.run(
        ["ip", "netns", "exec", name, program, *test[2:]], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{name}'s healthcheck failed: {result.stdout}{result.stderr}"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - the test's own http
        body: bytes = response.read()
        return body


def leader_is(name: str) -> bool:
    leader = cluster().leader
    return leader is not None and leader.name == name


def cluster() -> Cluster:
    """The cluster as the first node that answers sees it (one of them may be down)."""
    errors = []
    for node in DATABASE_NODES:
        try:
            return PatroniApi(f"http://{node}:8008").cluster()
        except Exception as exc:
            errors.append(f"{node}: {exc}")
    raise AssertionError(f"no Patroni answers: {errors}")


def settled(leader: str | None = None) -> bool:
    """A running leader (``leader`` when named) and the other node its streaming synchronous standby."""
    now = cluster()
    if now.leader is None or (leader is not None and now.leader.name != leader):
        return False
    others = [m for m in now.members if m.name != now.leader.name]
    return len(others) == len(DATABASE_NODES) - 1 and all(
        m.state == "streaming" and m.role == "sync_standby" for m in others
    )


def write(compose: dict[str, Any], value: str) -> None:
    """A row through the app's ``DATABASE_URL``, retried while the lead changes hands: Patroni takes the
    leader key before its PostgreSQL has finished the promotion, so a new leader may be read-only briefly."""
    url = interpolate(compose["services"]["backend-1"]["environment"]["DATABASE_URL"])

    def once() -> bool:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ha_check (value text PRIMARY KEY)")
            conn.execute("INSERT INTO ha_check VALUES (%s) ON CONFLICT DO NOTHING", (value,))
        return True

    wait_for(f"a write ({value}) through DATABASE_URL", once, 30)


def rows_on_every_node(expected: set[str]) -> None:
    def has_all(node: str) -> bool:
        with psycopg.connect(
            host=node,
            user=SECRETS["POSTGRES_USER"],
            password=SECRETS["POSTGRES_PASSWORD"],
            dbname=PRODUCTION_DATABASE,
            connect_timeout=5,
        ) as conn:
            return {row[0] for row in conn.execute("SELECT value FROM ha_check")} == expected

    for node in DATABASE_NODES:
        wait_for(f"every row on {node}", partial(has_all, node), 30)


def metrics_role_reads_statistics() -> None:
    """The exporters' role, made by the image's hook: logs in from the compose network, reads the
    statistics views (pg_monitor), owns nothing and may create nothing."""
    url = interpolate(compose_dsn())
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_has_role('pg_monitor', 'MEMBER')").fetchone() == (True,)
        assert conn.execute("SELECT count(*) >= 0 FROM pg_stat_replication").fetchone() == (True,)
        assert conn.execute(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)


def compose_dsn() -> str:
    compose = yaml.safe_load(production_files()["docker-compose.production.yml"])
    dsn: str = compose["services"]["postgres-exporter-1"]["environment"]["DATA_SOURCE_NAME"]
    return dsn


def _out_of_time(signum: int, frame: object) -> None:
    raise TimeoutError(f"the whole run took over {BUDGET_SECONDS} s")


def main(work: Path) -> None:
    # Within the budget the `finally` still runs: the services' namespaces outlive this process otherwise.
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(BUDGET_SECONDS)
    compose = yaml.safe_load(production_files()["docker-compose.production.yml"])
    network = Network(work)
    try:
        start_etcd(network, compose)
        for node in DATABASE_NODES:
            start_node(network, compose, node)
        wait_for("a leader and its synchronous standby", settled, 120)
        for name in (*ETCD_MEMBERS, *DATABASE_NODES):
            healthy(compose, name)
        write(compose, "bootstrapped")
        metrics_role_reads_statistics()

        first = cluster().leader
        assert first is not None
        other = next(node for node in DATABASE_NODES if node != first.name)
        api = PatroniApi(f"http://{first.name}:8008", SECRETS["PATRONI_RESTAPI_PASSWORD"], timeout=30)
        reply = api.post("/switchover", {"leader": first.name, "candidate": other})
        assert reply.status == 200, reply.text
        wait_for(f"{other} leading, {first.name} streaming", lambda: settled(other), 60)
        write(compose, "after switchover")

        # The leader's container dies whole: the other node takes the lead once the key expires, and the
        # old leader, started again, rejoins (pg_rewind's check connects to the new leader as superuser).
        network.kill(other)
        wait_for(f"{first.name} leading alone", lambda: leader_is(first.name), 90)
        write(compose, "after crash")
        start_node(network, compose, other)
        wait_for(f"{other} back as a streaming standby", lambda: settled(first.name), 120)
        rows_on_every_node({"bootstrapped", "after switchover", "after crash"})
    finally:
        network.kill_all()
    print("compose HA: bootstrap, switchover, crash and rejoin passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
