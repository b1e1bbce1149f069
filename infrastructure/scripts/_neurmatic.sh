#!/usr/bin/env bash
# Shared by the runbook wrappers: find the project's neurmatic command (its .venv, else PATH).
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
