#!/usr/bin/env bash
# restore.sh <backup.sql.gz> [--yes]   (DB_NAME=neurmatic_test_restore restores into that database)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_neurmatic.sh"
if [ $# -lt 1 ]; then
    echo "usage: $0 <backup file> [--yes]" >&2
    exit 2
fi
exec "$NEURMATIC" restore "$@"
