#!/usr/bin/env node
// The `taskfleet` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
import '../dist/src/cli.js';
