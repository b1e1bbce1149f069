"""logrotate for production hosts: nginx's file logs and the backup job's log, bounded as the containers'
output is (compose's json-file ``max-size: 20m``, ``max-file: 5``) and the local topology's logs are."""

from __future__ import annotations

from neurmatic.render import render_template

# nginx's logs, which compose bind-mounts from the host (fail2ban reads them there too), and the log the
# backup cron entry appends to (infrastructure/scripts/backup.sh).
NGINX_LOGS = "/var/log/nginx"
BACKUP_LOG = "/var/log/neurmatic_backup.log"
MAX_SIZE = "20M"
KEEP = 5


def render_logrotate(nginx_logs: str = NGINX_LOGS, backup_log: str = BACKUP_LOG) -> str:
    """``/etc/logrotate.d/neurmatic``; the paths are parameters so a test can rotate real files."""
    return render_template(
        "logrotate.j2",
        nginx_logs=nginx_logs,
        backup_log=backup_log,
        max_size=MAX_SIZE,
        keep=KEEP,
    )
