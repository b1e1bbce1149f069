"""PostgreSQL settings: the operators' values for production, scaled to the machine for the local topology.

The operators tuned for a 16 GB server running one PostgreSQL (shared_buffers 512MB, effective_cache_size
2GB, work_mem 2621kB for 200 connections). The local topology runs two PostgreSQL servers beside Redis,
nginx and the API on one machine, so memory settings are derived from what this machine has, capped at the
operators' values; everything that is not about memory stays exactly as the operators wrote it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MB = 1024 * 1024

# The production database and the application's role in it (the env file's POSTGRES_USER): pg_hba.conf
# admits this role, from the app network, to this database only.
PRODUCTION_DATABASE = "neurmatic_production"
PRODUCTION_APP_USER = "neurmatic_prod"

# The operators' settings (guide, "PostgreSQL Production Settings", plus the replication section).
PRODUCTION_SETTINGS: dict[str, str] = {
    "max_connections": "200",
    "shared_buffers": "512MB",
    "effective_cache_size": "2GB",
    "maintenance_work_mem": "128MB",
    "checkpoint_completion_target": "0.9",
    "wal_buffers": "16MB",
    "default_statistics_target": "100",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "work_mem": "2621kB",
    "min_wal_size": "1GB",
    "max_wal_size": "4GB",
    "max_worker_processes": "4",
    "max_parallel_workers_per_gather": "2",
    "max_parallel_workers": "4",
    "log_min_duration_statement": "1000",
    "log_statement": "ddl",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_keep_size": "1GB",
    "password_encryption": "scram-sha-256",
}


@dataclass(frozen=True)
class Machine:
    """What the settings are scaled to."""

    memory_bytes: int
    cpus: int
    postgres_servers: int = 2

    @classmethod
    def this_one(cls) -> Machine:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return cls(memory_bytes=pages, cpus=os.cpu_count() or 1)


def _mb(value: float) -> str:
    return f"{max(1, int(value // MB))}MB"


def scaled_settings(machine: Machine) -> dict[str, str]:
    """The operators' settings with memory sized for ``machine``, never above the operators' values.

    Per server we budget 1/16 of RAM for shared_buffers (the usual 25 % shared by two servers and the
    rest of the topology), effective_cache_size four times that, and work_mem so that every connection
    running a few sorts at once still fits in a quarter of the server's share.
    """
    share = machine.memory_bytes / max(1, machine.postgres_servers)
    shared_buffers = min(512 * MB, max(32 * MB, machine.memory_bytes / 16))
    effective_cache = min(2048 * MB, max(128 * MB, shared_buffers * 4))
    connections = int(PRODUCTION_SETTINGS["max_connections"])
    work_mem_kb = max(1024, min(2621, int(share / 4 / (connections * 3) / 1024)))
    workers = max(2, min(4, machine.cpus))
    return {
        **PRODUCTION_SETTINGS,
        "shared_buffers": _mb(shared_buffers),
        "effective_cache_size": _mb(effective_cache),
        "maintenance_work_mem": _mb(min(128 * MB, max(16 * MB, share / 32))),
        "wal_buffers": _mb(min(16 * MB, max(1 * MB, shared_buffers / 32))),
        "work_mem": f"{work_mem_kb}kB",
        "max_worker_processes": str(workers),
        "max_parallel_workers": str(workers),
        "max_parallel_workers_per_gather": str(max(1, workers // 2)),
        "min_wal_size": "80MB",
        "max_wal_size": "1GB",
        "wal_keep_size": "256MB",
    }
