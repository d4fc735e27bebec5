// Small helpers shared by the unit tests (not a test file itself).
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { scanLegacyFile, type ChunkLimits, type ChunkSpan, type FileScan } from '../../src/legacy/chunk-scanner.js';
import type { LegacyFile } from '../../src/legacy/files.js';
import type { ChunkLocation } from '../../src/legacy/read-chunk.js';
import type { LegacyFormat, LegacyKind } from '../../src/legacy/kinds.js';
import { RecordSplitter, type RecordSpan } from '../../src/legacy/record-splitter.js';

export const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** mulberry32: a tiny seeded PRNG, so every "random" case is reproducible from its seed. */
export function prng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(0, items.length - 1)]! };
}

/** Runs a splitter over `bytes`, pushed in pieces whose sizes `sizes(i)` gives; then end(). */
export function splitBytes(
  format: LegacyFormat,
  bytes: Uint8Array,
  sizes: (pieceNo: number) => number = () => bytes.length || 1,
  fileName = `f.${format}`,
): RecordSpan[] {
  const splitter = new RecordSplitter(format, fileName);
  const spans: RecordSpan[] = [];
  const emit = (s: RecordSpan): void => {
    spans.push(s);
  };
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = Math.max(1, sizes(i));
    splitter.push(bytes.subarray(pos, pos + n), emit);
    pos += n;
  }
  splitter.end(emit);
  return spans;
}

export interface TempDir {
  path: string;
  file(name: string, content: string | Buffer): string;
  legacyFile(kind: LegacyKind, format: LegacyFormat, content: string | Buffer): LegacyFile;
  remove(): void;
}

export function tempDir(label: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `tf-unit-${label}-`));
  const file = (name: string, content: string | Buffer): string => {
    const p = join(path, name);
    writeFileSync(p, content);
    return p;
  };
  return {
    path,
    file,
    legacyFile(kind, format, content) {
      const fileName = `${kind}.${format}`;
      const p = file(fileName, content);
      const info = statSync(p);
      return { kind, fileName, path: p, format, bytes: info.size, mtimeMs: info.mtimeMs };
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** A client in a UTC session (what the canonical forms assume). */
export async function utcClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`SET TimeZone = 'UTC'`);
  return client;
}

/** Scans a legacy file and returns its chunks (with the header each was given) and the file summary. */
export async function scanAll(
  file: LegacyFile,
  limits: ChunkLimits,
): Promise<{ chunks: ChunkSpan[]; headers: (string[] | null)[]; scan: FileScan }> {
  const chunks: ChunkSpan[] = [];
  const headers: (string[] | null)[] = [];
  const scan = await scanLegacyFile(file, limits, (chunk, header) => {
    chunks.push(chunk);
    headers.push(header);
  });
  return { chunks, headers, scan };
}

/** Where a planned chunk is, as a worker receives it. */
export function chunkLocation(file: LegacyFile, chunk: ChunkSpan, header: string[] | null): ChunkLocation {
  return {
    path: file.path, fileName: file.fileName, format: file.format, byteStart: chunk.byteStart, byteEnd: chunk.byteEnd,
    lineStart: chunk.lineStart, records: chunk.records, sha256: chunk.sha256, header,
  };
}
