#!/usr/bin/env -S node --max-semi-space-size=64
// The `taskfleet` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via
// `prepare`). A 64 MB young generation cuts workers' garbage-collection time (+26% throughput in
// `npm run bench`); the producer lowers it again for itself (src/cli/migrate-command.ts).
import '../dist/src/cli.js';
