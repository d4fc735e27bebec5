#!/usr/bin/env bash
# Undo a migration run: delete exactly the rows it created (children first, one transaction) and
# restore its legacy data from the prepare's checksummed backup. Thin on purpose: every flag is
# `taskfleet rollback`'s (--run-id ID, --dry-run, --force, connection flags); exec keeps signals reaching Node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for arg in "$@"; do
  if [[ "$arg" == "--help" || "$arg" == "-h" ]]; then
    echo "Usage: $(basename "$0") [--run-id ID] [--dry-run] [--force] [--new-data URL] [...]"
    echo "Rolls back a run (default: the latest run, refused if it is rolled back already) with \`taskfleet rollback\`:"
    echo
    break
  fi
done
exec node "$ROOT/bin/taskfleet.js" rollback "$@"
