#!/usr/bin/env bash
# Shared by the runbook wrappers: find the project's neurmatic command (its .venv, else PATH), and the
# deployment to act on: $NEURMATIC_ENV_FILE or $NEURMATIC_STATE_DIR when set, else the operators'
# .env.production at the project's root (the guide's cron line needs nothing else), else the local
# topology in ./.neurmatic.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -x "$root/.venv/bin/neurmatic" ]; then
    NEURMATIC="$root/.venv/bin/neurmatic"
elif command -v neurmatic >/dev/null; then
    NEURMATIC="$(command -v neurmatic)"
else
    echo "neurmatic is not installed: run $root/dev setup" >&2
    exit 4
fi
export NEURMATIC
if [ -z "${NEURMATIC_ENV_FILE:-}" ] && [ -z "${NEURMATIC_STATE_DIR:-}" ] && [ -f "$root/.env.production" ]; then
    export NEURMATIC_ENV_FILE="$root/.env.production"
fi
