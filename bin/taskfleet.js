#!/usr/bin/env -S node --max-semi-space-size=64
// The `taskfleet` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via
// `prepare`). The 64 MB young generation (from the shebang, which `npx taskfleet` uses) cuts workers'
// garbage collection: +26% throughput in `npm run bench`. The producer allocates too slowly to grow
// into it (its peak RSS is the same with or without the flag, measured).
import '../dist/src/cli.js';
