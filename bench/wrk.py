"""wrk, driven from Python: one bounded run against one URL, its figures parsed from the script's summary.

Every request carries ``X-Forwarded-For`` with one of many 10.x.y.z addresses, cycled per connection
thread. The API trusts that header from 127.0.0.1 (as from nginx), so its per-client rate limit
(RATE_LIMIT_MAX_REQUESTS per 15 minutes) sees many clients, as behind nginx in production, instead of one
client that is really the whole benchmark. The requests are formatted once, when a thread starts, so
wrk spends no time on them while it measures.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError

WRK_THREADS = 2  # this machine's cores; wrk needs a thread per core to keep up with a fast server
WRK_TIMEOUT_SECONDS = 5  # an answer slower than this counts as a timeout error
ADDRESSES_PER_THREAD = 4096

LUA_SCRIPT = """
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local pool = {}
local index = 0

function init(args)
  local count = tonumber(args[1])
  for i = 0, count - 1 do
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    for name, value in pairs(EXTRA_HEADERS) do headers[name] = value end
    headers["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", 64 + id, math.floor(i / 250) % 250, i % 250 + 1)
    pool[i + 1] = wrk.format(nil, nil, headers)
  end
end

function request()
  index = index % #pool + 1
  return pool[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d "
    .. "p50_us=%d p99_us=%d max_us=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class WrkMissing(BenchError):
    pass


@dataclass(frozen=True)
class WrkResult:
    """One run: requests completed, wall time, latency percentiles, and errors by kind (``status`` is
    answers of 400 and above; the others are socket errors and timeouts)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def require_wrk() -> str:
    """The wrk binary, or WrkMissing with the command that installs it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("install wrk: apt-get install wrk")
    return path


def parse_result(output: str) -> WrkResult:
    """The figures of the script's ``WRK_RESULT`` line (BenchError when wrk printed none)."""
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary:\n{output[-2000:]}")
    values = {key: int(value) for key, value in (item.split("=") for item in line.split()[1:])}
    return WrkResult(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        max_ms=values["max_us"] / 1000,
        errors={kind: values[kind] for kind in ("status", "connect", "read", "write", "timeout")},
    )


def _lua_table(name: str, values: dict[str, str]) -> str:
    """``NAME = {["key"] = [==[value]==], ...}``: long brackets, so no value needs escaping."""
    items = ", ".join(f"[ [==[{key}]==] ] = [==[{value}]==]" for key, value in values.items())
    if any("]==]" in text or "\n" in text for text in (*values, *values.values())):
        raise ValueError("a header name or value cannot hold ']==]' or a newline")
    return f"{name} = {{{items}}}\n"


class WrkRun:
    """A wrk process under way; ``result()`` waits for its end and parses its summary."""

    def __init__(self, process: subprocess.Popen[str], seconds: int) -> None:
        self.process = process
        self.seconds = seconds

    def result(self) -> WrkResult:
        stdout, stderr = self.process.communicate(timeout=self.seconds + 60)
        if self.process.returncode != 0:
            raise BenchError(f"wrk failed ({self.process.returncode}): {stderr.strip() or stdout[-2000:]}")
        return parse_result(stdout)


@contextlib.contextmanager
def wrk_running(
    url: str, *, seconds: int, connections: int, headers: dict[str, str] | None = None
) -> Iterator[WrkRun]:
    """wrk GETting ``url`` for ``seconds`` over ``connections`` keep-alive connections, started: the caller
    may watch the server while it runs. Killed if the caller leaves before its end."""
    wrk = require_wrk()
    with tempfile.TemporaryDirectory(prefix="neurmatic-wrk-") as tmp:
        script = Path(tmp) / "clients.lua"
        # Headers go in the script, not on wrk's command line, where every user's `ps` would show a token.
        script.write_text(_lua_table("EXTRA_HEADERS", headers or {}) + LUA_SCRIPT)
        argv = [
            wrk,
            f"--threads={min(WRK_THREADS, connections)}",
            f"--connections={connections}",
            f"--duration={seconds}s",
            f"--timeout={WRK_TIMEOUT_SECONDS}s",
            f"--script={script}",
            url,
            "--",
            str(ADDRESSES_PER_THREAD),
        ]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield WrkRun(process, seconds)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def run_wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str] | None = None) -> WrkResult:
    """GET ``url`` for ``seconds`` over ``connections`` keep-alive connections; its figures."""
    with wrk_running(url, seconds=seconds, connections=connections, headers=headers) as run:
        return run.result()
