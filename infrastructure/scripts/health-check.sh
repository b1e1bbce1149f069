#!/usr/bin/env bash
# health-check.sh [--verbose|-v] [--json|-j]: the operators' flags, mapped onto `neurmatic health`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_neurmatic.sh"
args=()
for arg in "$@"; do
    case "$arg" in
        -v | --verbose) args+=(--verbose) ;;
        -j | --json) args+=(--json) ;;
        *) args+=("$arg") ;;
    esac
done
exec "$NEURMATIC" health "${args[@]}"
