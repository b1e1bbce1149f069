"""What every platform's application container shares (compose and Kubernetes alike): the entry points,
the port, where the metric files and the worker's heartbeat go, and how a platform tells that a worker
is stuck. Each platform's renderer reads these, so the two cannot drift apart."""

from __future__ import annotations

API_PORT = 3000
# The image's entry point is `tini -- neurmatic` (infrastructure/Dockerfile): a container's command is the
# subcommand and its options (compose's `command:`, Kubernetes' `args:`).
API_COMMAND = ("api", "--host", "0.0.0.0", "--port", str(API_PORT))
WORKER_COMMAND = ("worker",)
MIGRATE_COMMAND = ("migrate",)
BACKUP_COMMAND = ("backup",)

LIVE_PATH = "/api/v1/health/live"
READY_PATH = "/api/v1/health/ready"

# uvicorn's worker processes write their metric files here (the container's own /tmp), merged by whichever
# worker answers a scrape.
METRICS_DIR = "/tmp/neurmatic-metrics"  # noqa: S108 - the container's own /tmp
WORKER_METRICS_PORT = 9400
WORKER_METRICS_ADDRESS = f"0.0.0.0:{WORKER_METRICS_PORT}"

# The worker touches this file on every loop; untouched for WORKER_STALE_SECONDS means it is stuck.
WORKER_HEARTBEAT_FILE = "/tmp/neurmatic-worker.heartbeat"  # noqa: S108 - the container's own /tmp
WORKER_STALE_SECONDS = 60


def worker_heartbeat_script() -> str:
    """A ``python -c`` program that exits 1 when the heartbeat file is stale (or absent: an exception)."""
    return (
        "import os, sys, time; sys.exit(time.time() - "
        f"os.path.getmtime('{WORKER_HEARTBEAT_FILE}') > {WORKER_STALE_SECONDS})"
    )
