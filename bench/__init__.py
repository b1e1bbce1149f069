"""Benchmarks and load tests: bounded in time and request count, loopback only, figures printed."""


class BenchError(RuntimeError):
    """A benchmark cannot run (a missing tool, a topology not up, an unexpected answer): exit 2."""
