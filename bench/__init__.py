"""Benchmarks and load tests: bounded in time and request count, loopback only, figures printed."""
