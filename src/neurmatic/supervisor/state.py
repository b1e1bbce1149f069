"""The state directory: its format marker, generated secrets, and the account servers run as.

PostgreSQL refuses to run as root, so when we are root every server runs as the unprivileged system
user ``neurmatic`` and the state directory is owned by it. Secrets are generated once, at creation,
into ``secrets.env`` (mode 0600) and never printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from neurmatic.errors import StateDirError
from neurmatic.private_files import read_env_file, write_private_file
from neurmatic.supervisor.layout import DEFAULT_BASE_PORT, Paths, Ports

# 2: PostgreSQL runs under Patroni with an etcd cluster (format 1 ran bare postmasters that the
# supervisor started and failed over by hand; its data directories are not adopted in place).
STATE_FORMAT = 2
SERVICE_USER = "neurmatic"
# pgBackRest's repository passphrase: without it no backup or archived WAL can be read back, so a
# server rebuilt from S3 needs the saved one (never a fresh one).
CIPHER_SECRET = "PGBACKREST_CIPHER_PASS"  # noqa: S105 - the name of a secret, not one
SECRET_NAMES = (
    "POSTGRES_SUPERUSER_PASSWORD",
    "POSTGRES_PASSWORD",
    "REPLICATOR_PASSWORD",
    "REDIS_PASSWORD",
    "REDIS_SENTINEL_PASSWORD",
    "PATRONI_RESTAPI_PASSWORD",
    "PGBACKREST_CIPHER_PASS",
    "METRICS_DB_PASSWORD",
    "METRICS_REDIS_PASSWORD",
    "MONITORING_PASSWORD",
    "JWT_SECRET",
    "JWT_REFRESH_SECRET",
    "SESSION_SECRET",
)

# Secrets a state directory or a saved secrets file may lack (they predate them) that protect nothing kept
# across a rebuild: a fresh one is generated (the Patroni REST API's, the exporters' own accounts).
FRESH_IF_MISSING = (
    "PATRONI_RESTAPI_PASSWORD",
    "METRICS_DB_PASSWORD",
    "METRICS_REDIS_PASSWORD",
    "MONITORING_PASSWORD",  # the operators' password for Prometheus's and Alertmanager's web APIs
)


@dataclass(frozen=True)
class ServiceAccount:
    """The account servers run as: ``name`` is None when we are not root (we run them as ourselves)."""

    name: str | None
    uid: int
    gid: int

    @classmethod
    def for_current_process(cls) -> ServiceAccount:
        if os.geteuid() != 0:
            return cls(None, os.getuid(), os.getgid())
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            _create_system_user()
            entry = pwd.getpwnam(SERVICE_USER)
        return cls(SERVICE_USER, entry.pw_uid, entry.pw_gid)

    def check_can_execute(self, program: Path) -> None:
        """StateDirError when the service account cannot run ``program`` (e.g. a Python under /root)."""
        if self.name is None:
            return
        real = program.resolve()
        blocked = [p for p in real.parents if p.exists() and not p.stat().st_mode & 0o001]
        if blocked or not real.stat().st_mode & 0o001:
            raise StateDirError(
                f"the {self.name} user cannot run {real}"
                + (f": {blocked[0]} is not searchable by others" if blocked else ""),
                hint="create the virtual environment with a system Python "
                "(`/usr/bin/python3 -m venv .venv`), as `./dev setup` does",
            )

    def own(self, *paths: Path) -> None:
        """Give ``paths`` (recursively for directories) to the service account."""
        if self.name is None:
            return
        for path in paths:
            os.chown(path, self.uid, self.gid)
            if path.is_dir():
                for child in path.rglob("*"):
                    os.chown(child, self.uid, self.gid, follow_symlinks=False)


def _write_secrets(path: Path, secrets: dict[str, str]) -> None:
    write_private_file(path, "".join(f"{name}={value}\n" for name, value in secrets.items()))


def _create_system_user() -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", nologin, SERVICE_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: the user exists (a concurrent creation)
        raise StateDirError(
            f"cannot create the system user {SERVICE_USER!r}: {result.stderr.strip()}",
            hint=f"create it yourself: useradd --system --no-create-home {SERVICE_USER}",
        )


@dataclass(frozen=True)
class TopologyState:
    """What ``topology.json`` and ``secrets.env`` hold, loaded or freshly created."""

    paths: Paths
    ports: Ports
    api_instances: int
    secrets: dict[str, str]
    account: ServiceAccount
    web_concurrency: int | None = None  # worker processes per API instance; None: sized to the machine

    @classmethod
    def load(cls, root: Path) -> TopologyState:
        """Load an existing state directory; StateDirError when absent, unreadable or incompatible."""
        paths = Paths(root)
        if not paths.topology_file.exists():
            raise StateDirError(
                f"no topology in {root}",
                hint="bring it up first with `neurmatic up` (or pass --state-dir), "
                "or act on a deployment by its env file with `--env-file .env.production`",
            )
        try:
            meta = json.loads(paths.topology_file.read_text())
            secrets = read_env_file(paths.secrets_file)
        except (OSError, ValueError) as exc:
            raise StateDirError(
                f"cannot read the state directory {root}: {exc}",
                hint="run the command as the user who created it (or as root)",
            ) from exc
        if meta.get("format") == 1:
            raise StateDirError(
                f"{root} holds a topology from before PostgreSQL ran under Patroni (state format 1); "
                "its nodes cannot be adopted in place",
                hint="with the neurmatic that made it: `neurmatic backup`, then `neurmatic down`; then "
                "`neurmatic up` a new --state-dir and `neurmatic restore` the backup into it",
            )
        if meta.get("format") != STATE_FORMAT:
            from neurmatic import __version__

            raise StateDirError(
                f"{root} was made by neurmatic {meta.get('created_by', '?')} (state format "
                f"{meta.get('format')}); this is neurmatic {__version__} (format {STATE_FORMAT})",
                hint="use a new --state-dir, or remove this one after `neurmatic down` "
                "if its data is not needed",
            )
        # A state directory from before archiving: no repository is encrypted with a passphrase yet.
        new_cipher = not secrets.get(CIPHER_SECRET) and not paths.pgbackrest_repo.exists()
        fresh = [name for name in FRESH_IF_MISSING if not secrets.get(name)] + [CIPHER_SECRET] * new_cipher
        if fresh:
            from neurmatic.secret_policy import generate_secret

            secrets.update({name: generate_secret() for name in fresh})
            _write_secrets(paths.secrets_file, secrets)
        missing = [name for name in SECRET_NAMES if not secrets.get(name)]
        if missing:
            raise StateDirError(
                f"{paths.secrets_file} lacks {', '.join(missing)}", hint="restore it from backup"
            )
        return cls(
            paths,
            Ports(int(meta["base_port"])),
            int(meta["api_instances"]),
            secrets,
            ServiceAccount.for_current_process(),
            int(meta["web_concurrency"]) if meta.get("web_concurrency") else None,
        )

    def with_api_instances(self, count: int) -> TopologyState:
        """Persist a new number of API instances (``neurmatic scale api N``) and return the new state."""
        meta = json.loads(self.paths.topology_file.read_text())
        meta["api_instances"] = count
        write_private_file(self.paths.topology_file, json.dumps(meta, indent=2) + "\n", self.account)
        return dataclasses.replace(self, api_instances=count)

    def with_web_concurrency(self, workers: int | None) -> TopologyState:
        """Persist the worker processes per API instance (None: sized to the machine again)."""
        meta = json.loads(self.paths.topology_file.read_text())
        meta["web_concurrency"] = workers
        write_private_file(self.paths.topology_file, json.dumps(meta, indent=2) + "\n", self.account)
        return dataclasses.replace(self, web_concurrency=workers)

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        base_port: int = DEFAULT_BASE_PORT,
        api_instances: int = 2,
        secrets: dict[str, str] | None = None,
    ) -> TopologyState:
        """Create a new state directory with fresh secrets, or with ``secrets`` (a server rebuilt after
        its loss keeps its JWT and session secrets, so the tokens users hold stay valid)."""
        from neurmatic import __version__
        from neurmatic.secret_policy import generate_secret  # pydantic settings: not for `status`

        account = ServiceAccount.for_current_process()
        _check_reachable(root, account)
        paths = Paths(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            for directory in (paths.logs, paths.run, paths.tls, paths.nginx):
                directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise StateDirError(f"cannot create {root}: {exc}", hint="choose a writable --state-dir") from exc
        secrets = secrets or {name: generate_secret() for name in SECRET_NAMES}
        _write_secrets(paths.secrets_file, secrets)
        meta = {
            "format": STATE_FORMAT,
            "created_by": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_port": base_port,
            "api_instances": api_instances,
        }
        write_private_file(paths.topology_file, json.dumps(meta, indent=2) + "\n")
        account.own(root)
        return cls(paths, Ports(base_port), api_instances, secrets, account)


def _check_reachable(root: Path, account: ServiceAccount) -> None:
    """The service account must be able to walk down to the state directory."""
    if account.name is None:
        return
    for parent in root.absolute().parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise StateDirError(
                f"the {account.name} user cannot reach {root}: {parent} is not searchable by others",
                hint=f"choose a --state-dir under a world-searchable directory, or `chmod o+x {parent}`",
            )


def service_releases(paths: Paths) -> dict[str, str]:
    """Which release each API instance and the worker runs; a service not named runs the installed package.

    Read afresh on every call: the watcher restarts a crashed service from the release it last ran.
    """
    try:
        data = json.loads(paths.service_releases.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateDirError(
            f"cannot read {paths.service_releases}: {exc}",
            hint="restore it, or remove it to run the installed package",
        ) from exc
    return {str(name): str(version) for name, version in data.items()}


def set_service_release(paths: Paths, service: str, version: str | None) -> None:
    """Record that ``service`` runs ``version`` (None: the installed package), atomically."""
    releases = service_releases(paths)
    if version is None:
        releases.pop(service, None)
    else:
        releases[service] = version
    write_private_file(paths.service_releases, json.dumps(releases, indent=2, sort_keys=True) + "\n")
