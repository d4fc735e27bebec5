#!/usr/bin/env bash
# The whole migration lifecycle: prepare → migrate → verify → optimize → decommission.
# Thin on purpose: every flag is `taskfleet run`'s (see --help); exec keeps signals reaching Node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec node "$ROOT/bin/taskfleet.js" run "$@"
