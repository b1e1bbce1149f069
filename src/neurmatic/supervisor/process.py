"""Processes we started: pid files that remember the start time, so a recycled pid is never mistaken
for our server, and a zombie (which ``kill -0`` still finds) counts as dead."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neurmatic.polling import poll

if TYPE_CHECKING:  # imported by the functions that stop a server; `status` reads /proc itself
    import psutil


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its closing one.
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def is_running(pid: int, ticks: int | None = None) -> bool:
    """True when ``pid`` is alive, not a zombie, and (when given) started at ``ticks``."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        fields = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def kill_group(pgid: int, *, wait: float = 5.0) -> bool:
    """SIGKILL every process of group ``pgid``, then wait until none of them runs; True when all died."""
    signal_group(pgid, signal.SIGKILL)
    return await_group_dead(pgid, wait=wait)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def await_group_dead(pgid: int, *, wait: float = 5.0) -> bool:
    """Wait until no process of group ``pgid`` runs; True when none does within ``wait`` seconds.

    ``killpg`` only queues the signal: the processes die, and their sockets close, a little later. A
    caller that times what happens after a crash (a drill) must start its clock once they are dead.
    A zombie counts as dead: a process's sockets are closed before it becomes one.
    """
    return poll(lambda: not group_members(pgid), timeout=wait, interval=0.01, catch=()).done


def reap_children() -> None:
    """Collect exited children so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@dataclass(frozen=True)
class PidFile:
    """``<pid> <start ticks>`` in ``run/<service>.pid``."""

    path: Path

    def write(self, pid: int) -> None:
        ticks = start_ticks(pid)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{pid} {ticks or 0}\n")
        tmp.replace(self.path)

    def read(self) -> tuple[int, int | None] | None:
        try:
            pid_text, _, ticks_text = self.path.read_text().strip().partition(" ")
            return int(pid_text), (int(ticks_text) or None) if ticks_text else None
        except (OSError, ValueError):
            return None

    def running_pid(self) -> int | None:
        """The recorded pid when that very process still runs, else None."""
        entry = self.read()
        if entry and is_running(*entry):
            return entry[0]
        return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def terminate(
    pid: int, *, grace: float, sig: signal.Signals = signal.SIGTERM, with_descendants: bool = True
) -> bool:
    """Send ``sig`` to the server, wait ``grace`` seconds, then SIGKILL it and everything it started.
    True if it had to kill.

    The polite signal goes to the main process only: PostgreSQL and nginx expect their master to be
    told and to stop their children themselves. The kill reaches the whole tree, including children
    that left the server's process group (an RQ work horse calls ``setpgrp``, so a group kill alone
    would leave a job running after its worker is gone); and children still alive once the server has
    exited are killed too, so nothing of a stopped server outlives it.
    """
    ticks = start_ticks(pid)
    # The watcher's children are the servers it restarted: they are not part of it (``with_descendants``).
    tree = _descendants(pid) if with_descendants else []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
    killed = not _await_exit(pid, ticks, grace)
    if killed:
        if with_descendants:
            tree += _descendants(pid)  # the latest ones too: a worker may have forked since the signal
            _signal_group(pid, signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _await_exit(pid, ticks, 5)
    _kill_survivors(tree)
    return killed


def _await_exit(pid: int, ticks: int | None, seconds: float) -> bool:
    """True when the process is gone within ``seconds``."""

    def gone() -> bool:
        reap_children()
        return not is_running(pid, ticks)

    return poll(gone, timeout=seconds, interval=0.05, catch=()).done


def _descendants(pid: int) -> list[psutil.Process]:
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _kill_survivors(processes: list[psutil.Process]) -> None:
    import psutil

    # psutil checks each process's creation time, so a recycled pid is never killed in its place.
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(processes, timeout=5)
    reap_children()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Every server runs in its own session (start_new_session), so its pgid is its pid and a KILL
    # reaches the children it could no longer stop itself (PostgreSQL backends, nginx workers).
    signal_group(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
