"""Liveness, readiness and the truthful component report."""
