"""Why a PostgreSQL node did not start or did not stream, in the server's own words.

A start that fails says only "exited during start-up" or "did not start streaming within 30s"; the
reason is in the node's log. The log is appended to by every start, so only what was written since this
start counts; of that, the lines that explain (errors, and the recovery complaints a standby repeats
every few seconds) are kept once each, without their timestamp and pid.
"""

from __future__ import annotations

import re

from neurmatic.ops.flows.releases.traffic import AccessLog

MAX_LINES = 12
# Severities that carry the reason, and the messages a standby logs at LOG level while it cannot follow.
EXPLAINING = re.compile(
    r"\b(?:FATAL|PANIC|ERROR|DETAIL|HINT):|forked off|could not|requested WAL segment|"
    r"invalid (?:record|checkpoint|resource manager)"
)
# log_line_prefix '%m [%p] %q%u@%d ': "2026-11-26 09:14:45.895 UTC [8460] " (+ "user@db " in sessions)
_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] (?:\S*@\S* )?")


class ServerLog(AccessLog):
    """A server's log read from an offset: the same reading as nginx's access log."""


def explain(lines: list[str], limit: int = MAX_LINES) -> str:
    """The lines of ``lines`` that say why, each once, at most ``limit`` (the last ones)."""
    bare = [_PREFIX.sub("", line).rstrip() for line in lines if line.strip()]
    picked = [line for line in bare if EXPLAINING.search(line)] or bare[-limit:]
    unique = list(dict.fromkeys(picked))
    return "\n".join(unique[-limit:])


def start_failure(message: str, logged: list[str]) -> str:
    """``message``'s headline and, when the server logged anything since its start, why."""
    headline = (message.strip().splitlines() or ["start failed"])[0].rstrip(":")
    reason = explain(logged)
    if not reason:
        return message.strip()
    return f"{headline}; PostgreSQL logged:\n" + "\n".join(f"  {line}" for line in reason.splitlines())
