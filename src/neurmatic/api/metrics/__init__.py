"""Prometheus metrics of one API instance: real counters, bounded labels."""
