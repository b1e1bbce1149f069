"""One base class for every supervised server: prepare, start, await readiness by its own probe, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from neurmatic.errors import PortInUseError, ServiceStartError
from neurmatic.polling import poll
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.process import PidFile, is_running, reap_children, terminate
from neurmatic.supervisor.state import TopologyState


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    role: str
    host: str
    port: int | None
    pid: int | None
    state: str  # ready | starting | stopped | unhealthy
    detail: str = ""  # what else the server says of itself (Patroni's view of a PostgreSQL node)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "state": self.state,
            "detail": self.detail,
        }


class Service(ABC):
    """A server of the topology. Subclasses say how to run it, how to probe it, and what role it has."""

    name: str
    restartable = False  # the watcher restarts crashed API instances and the worker, never databases
    stop_signal = signal.SIGTERM
    stop_grace = 20.0
    ready_timeout = 60.0

    def __init__(self, state: TopologyState) -> None:
        self.state = state
        self.paths = state.paths
        self.pidfile = PidFile(self.paths.pidfile(self.name))

    @property
    def host(self) -> str:
        return HOST

    @property
    @abstractmethod
    def port(self) -> int | None: ...

    def bound_ports(self) -> list[int]:
        """The ports the server binds when it starts (checked free first)."""
        return [] if self.port is None else [self.port]

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    @abstractmethod
    def probe(self) -> bool:
        """True when the server answers as a ready server of its kind (never just "the port is open")."""

    @abstractmethod
    def role(self) -> str:
        """The server's *current* role, asked of the server itself (it changes after a failover)."""

    def prepare(self) -> None:  # noqa: B027 - optional hook: most servers need no preparation
        """Create data directories and configs on first start; leave an existing node's files alone."""

    def fence_orphans(self) -> str | None:
        """Called when the server died and could not be restarted: stop what it left running that must
        not run unsupervised; say what was done (None: nothing)."""
        return None

    def environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.paths.root),
        }

    def running_pid(self) -> int | None:
        return self.pidfile.running_pid()

    def status(self) -> ServiceStatus:
        pid = self.running_pid()
        if pid is None:
            return ServiceStatus(self.name, "", self.host, self.port, None, "stopped")
        ready = self._safe_probe()
        return ServiceStatus(
            self.name,
            self._safe_role() if ready else "",
            self.host,
            self.port,
            pid,
            "ready" if ready else "unhealthy",
        )

    def _safe_probe(self) -> bool:
        try:
            return self.probe()
        except Exception:  # a probe that raises is a server that is not ready
            return False

    def _safe_role(self) -> str:
        try:
            return self.role()
        except Exception:
            return "unknown"

    def ensure_running(self) -> bool:
        """Start the server unless it already runs; wait until it is ready. True when it was started."""
        if self.running_pid() is not None:
            self.wait_ready()
            return False
        self.prepare()
        self.start()
        self.wait_ready()
        return True

    def start(self) -> int:
        """Spawn the server in its own session with its own log; record its pid."""
        for port in self.bound_ports():
            check_port_free(port, self.name)
        log_path = self.paths.log(self.name)
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.state.account.own(log_path)
            as_root = os.geteuid() == 0
            proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.paths.root,
                env=self.environment(),
                start_new_session=True,
                user=self.state.account.uid if as_root else None,
                group=self.state.account.gid if as_root else None,
                extra_groups=[] if as_root else None,
            )
        finally:
            log.close()
        self.pidfile.write(proc.pid)
        return proc.pid

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll the probe until it answers; fail fast when the process dies, with its log's tail."""
        seconds = timeout or self.ready_timeout

        def answer() -> bool | None:  # None: the process is gone, so stop waiting
            reap_children()
            return None if self.running_pid() is None else self.probe()

        polled = poll(
            answer,
            timeout=seconds,
            interval=0.05,
            backoff=1.5,
            max_interval=0.5,
            done=lambda up: up is not False,
        )
        if polled.done and polled.value is None:
            raise ServiceStartError(
                f"{self.name} exited during start-up:\n{self.log_tail()}",
                hint=f"see the whole log with `neurmatic logs {self.name}`",
            )
        if not polled.done:
            raise ServiceStartError(
                f"{self.name} was not ready after {seconds:g}s ({polled.why}):\n{self.log_tail()}",
                hint=f"see `neurmatic logs {self.name}`",
            ) from polled.last_error

    def stop(self) -> None:
        """Stop gracefully (the server's own shutdown signal), then forcibly; forget the pid."""
        entry = self.pidfile.read()
        if entry and is_running(*entry):
            terminate(entry[0], grace=self.stop_grace, sig=self.stop_signal)
        self.pidfile.remove()

    def log_files(self) -> list[Path]:
        """Where the server writes: its output, captured in ``logs/<name>.log`` (``neurmatic logs``)."""
        return [self.paths.log(self.name)]

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.paths.log(self.name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def check_port_free(port: int, service: str, host: str = HOST) -> None:
    """PortInUseError naming the port, the service that wanted it, and who holds it when we can see."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return
        except OSError:
            pass
    raise PortInUseError(
        f"port {port} on {host}, needed by {service}, is already in use{_holder(port)}",
        hint="stop what holds it, or move every port of the topology with `--base-port N`",
    )


def _holder(port: int) -> str:
    import psutil  # only to name who holds a port

    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f" by {psutil.Process(conn.pid).name()} (pid {conn.pid})"
    return ""
