// The tests' OWN reading of a legacy data directory (docs/legacy-format.md): JSON.parse and csv-parse,
// nothing of the fleet's readers or normalizer. Every record comes with the line it starts on and its
// size, so tests can compare the ledger's `file:line` refs and legacy_line columns with the files.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type pg from 'pg';
import type { ExpectedReject } from '../../src/generator/generate.js';
import { EXPECTED_REJECTS_FILE, MANIFEST_FILE, type GenerateSummary } from '../../src/generator/generate.js';
import { runCli, type CliOptions, type CliResult } from './cli.js';

export type LegacyFormat = 'json' | 'jsonl' | 'csv';
export type LegacyKindName = 'projects' | 'phases' | 'tasks' | 'task_dependencies';
export const KIND_NAMES: readonly LegacyKindName[] = ['projects', 'phases', 'tasks', 'task_dependencies'];

export interface LegacyRecordAt {
  /** 1-based line the record starts on (JSON: the element's line; CSV: header is line 1). */
  line: number;
  /** UTF-8 size of the record's text. */
  bytes: number;
  /** The record's fields as found in the file (CSV: text, empty = null); null when it cannot be parsed. */
  fields: Record<string, unknown> | null;
}

function asObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Reads every record of one legacy file, in file order. */
export async function readLegacyFile(path: string, format: LegacyFormat): Promise<LegacyRecordAt[]> {
  const text = await readFile(path, 'utf8');
  if (format === 'jsonl') {
    const out: LegacyRecordAt[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '') continue;
      out.push({ line: i + 1, bytes: Buffer.byteLength(line), fields: asObject(line) });
    }
    return out;
  }
  if (format === 'json') {
    // One array; elements start on their own line (the generator never splits an element over lines).
    const lines = text.split('\n');
    if (lines[0]?.trim() !== '[') throw new Error(`${path}: a .json legacy file must start with "[" on its own line`);
    const out: LegacyRecordAt[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!.trimEnd();
      if (line === ']' || line === '') continue;
      const element = line.endsWith(',') ? line.slice(0, -1) : line;
      out.push({ line: i + 1, bytes: Buffer.byteLength(element), fields: asObject(element) });
    }
    // When the whole file is valid JSON, the line-wise reading must find the same elements.
    let whole: unknown;
    try {
      whole = JSON.parse(text);
    } catch {
      whole = undefined;
    }
    if (Array.isArray(whole) && whole.length !== out.length) {
      throw new Error(`${path}: JSON.parse finds ${whole.length} elements, the line-wise reading ${out.length}`);
    }
    return out;
  }
  const rows = parseCsv(text, { info: true, raw: true, relax_column_count: true, skip_empty_lines: false }) as unknown as {
    record: string[];
    raw: string;
    info: { lines: number };
  }[];
  const [headerRow, ...records] = rows;
  if (!headerRow) return [];
  const header = headerRow.record;
  const out: LegacyRecordAt[] = [];
  let previousEnd = headerRow.info.lines;
  for (const { record, raw, info } of records) {
    const line = previousEnd + 1;
    previousEnd = info.lines;
    const body = raw.replace(/\r?\n$/, '');
    if (record.length !== header.length) {
      out.push({ line, bytes: Buffer.byteLength(body), fields: null });
      continue;
    }
    const fields: Record<string, unknown> = {};
    header.forEach((column, c) => {
      const value = record[c]!;
      fields[column] = value === '' ? null : value;
    });
    out.push({ line, bytes: Buffer.byteLength(body), fields });
  }
  return out;
}

/** A legacy value as text (a number's digits; any other non-string as JSON). */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** A list field: a JSON array, or (CSV) `;`-separated text; items trimmed, empty ones dropped. */
export function listItems(value: unknown): string[] | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.split(';').map((s) => s.trim()).filter((s) => s !== '');
  if (Array.isArray(value)) return value.map((s) => asText(s).trim()).filter((s) => s !== '');
  return null;
}

export interface LegacyDir {
  dir: string;
  format: LegacyFormat;
  summary: GenerateSummary;
  maxRecordBytes: number;
  files: Record<LegacyKindName, string | undefined>;
  records: Record<LegacyKindName, LegacyRecordAt[]>;
}

/** Reads the generator's manifest (to know the file names) and every legacy file of the directory. */
export async function readLegacyDir(dir: string, format: LegacyFormat): Promise<LegacyDir> {
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as {
    options: { maxRecordBytes: number };
    summary: GenerateSummary;
  };
  const files = {} as Record<LegacyKindName, string | undefined>;
  const records = {} as Record<LegacyKindName, LegacyRecordAt[]>;
  for (const kind of KIND_NAMES) {
    const file = manifest.summary.files[kind];
    files[kind] = file;
    records[kind] = file ? await readLegacyFile(join(dir, file), format) : [];
  }
  return { dir, format, summary: manifest.summary, maxRecordBytes: manifest.options.maxRecordBytes, files, records };
}

export interface DeclaredEdge {
  task: string;
  dependsOn: string;
  /** `tasks.jsonl:12#depends_on[0]` or `task_dependencies.jsonl:7`. */
  ref: string;
}

/**
 * Every dependency edge the legacy files declare, in the contract's file order: each parseable task's
 * depends_on (line and array order), then every readable task_dependencies record. `unreadable` counts
 * task_dependencies records that declare no edge (malformed, oversized, a missing end).
 */
export function declaredEdges(legacy: LegacyDir): { edges: DeclaredEdge[]; legacyCount: number } {
  const edges: DeclaredEdge[] = [];
  let legacyCount = 0;
  const tasksFile = legacy.files.tasks!;
  for (const r of legacy.records.tasks) {
    if (!r.fields || r.bytes > legacy.maxRecordBytes) continue;
    const list = listItems(r.fields.depends_on) ?? [];
    legacyCount += list.length;
    const id = r.fields.id;
    list.forEach((dep, i) => edges.push({ task: asText(id).trim(), dependsOn: dep, ref: `${tasksFile}:${r.line}#depends_on[${i}]` }));
  }
  const depsFile = legacy.files.task_dependencies;
  for (const r of legacy.records.task_dependencies) {
    legacyCount++;
    if (!r.fields || r.bytes > legacy.maxRecordBytes) continue;
    const task = r.fields.task_id;
    const dep = r.fields.depends_on_id;
    if (task === null || task === undefined || dep === null || dep === undefined) continue;
    edges.push({ task: asText(task).trim(), dependsOn: asText(dep).trim(), ref: `${depsFile}:${r.line}` });
  }
  return { edges, legacyCount };
}

export async function readExpectedRejects(dir: string): Promise<ExpectedReject[]> {
  const text = await readFile(join(dir, EXPECTED_REJECTS_FILE), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ExpectedReject);
}

// ---- running the fleet and knowing when its sessions are gone --------------------------------------

/** application_name of every Postgres session the CLI under test (and its workers) opens. */
export const FLEET_APP_NAME = 'taskfleet-under-test';

/**
 * Runs the CLI with its Postgres sessions tagged, then waits until every one of them has ended. A
 * backend publishes its table statistics when it exits, so pg_stat_user_tables is complete afterwards.
 */
export async function runFleet(pool: pg.Pool, args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const result = await runCli(args, { timeoutMs: 300_000, ...opts, env: { PGAPPNAME: FLEET_APP_NAME, ...opts.env } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, [FLEET_APP_NAME]);
    if (rows[0]!.n === 0) break;
    if (Date.now() > deadline) throw new Error(`taskfleet sessions still open 30 s after the command ended`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return result;
}

export interface SummaryKind { kind: string; legacy: number; migrated: number; rejected: number }
export interface SummaryEvent {
  event: 'summary';
  runId: string;
  status: string;
  balanced: boolean;
  rejected: number;
  kinds: SummaryKind[];
}

/** JSON lines of a `--json` command's stdout (other lines, e.g. stray logs, are skipped). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    const value = line.trim().startsWith('{') ? asObject(line) : null;
    if (value) out.push(value);
  }
  return out;
}

export function summaryOf(result: CliResult): SummaryEvent {
  const summary = jsonLines(result.stdout).filter((e) => e.event === 'summary').at(-1);
  if (!summary) throw new Error(`no summary event in stdout (exit ${String(result.code)}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`);
  return summary as unknown as SummaryEvent;
}

/** Reports the first `max` items of a list of mismatch descriptions, and how many there were. */
export function firstOf(items: readonly string[], max = 15): string[] {
  return items.length <= max ? [...items] : [...items.slice(0, max), `… and ${items.length - max} more`];
}
