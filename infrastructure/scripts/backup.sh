#!/usr/bin/env bash
# The operators' backup script, kept as a thin wrapper so the guide's cron line keeps working:
#   0 2 * * * /opt/neurmatic/infrastructure/scripts/backup.sh >> /var/log/neurmatic_backup.log 2>&1
# BACKUP_DIR, NEURMATIC_ENV_FILE (default: .env.production at the root) and NEURMATIC_STATE_DIR are
# honoured; the exit code is neurmatic's (see README).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_neurmatic.sh"
exec "$NEURMATIC" backup "$@"
