// The bench's looser baselines: the simplest loader a person would write — read the legacy JSONL, map
// each record with the fleet's own normalizer and row encoding, COPY into scratch tables. No queue, no
// ledger, no parent checks, no verification, no retries, no workflow rows.
// - naiveLoader: one process, one stream.
// - parallelNaiveLoader: N processes of this module at once, each taking an Nth of every file's lines
//   (what any loader that parses in Node could reach on this machine's cores: the fleet's ceiling).
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadLegacyMapping } from '../src/config/legacy-mapping.js';
import { createNormalizer, type PhaseValues, type ProjectValues, type TaskValues } from '../src/legacy/normalize.js';
import { encodeCopyLine } from '../src/store/copy-text.js';
import { ENTITY_TABLES as TABLE_SPECS, phaseRow, projectRow, taskRow } from '../src/store/entity-tables.js';
import { newId } from '../src/store/new-ids.js';

const KINDS = ['projects', 'phases', 'tasks'] as const;

export interface LoadFigures { rows: number; seconds: number }

async function createScratchTables(client: pg.Client): Promise<void> {
  await client.query('DROP SCHEMA IF EXISTS scratch CASCADE; CREATE SCHEMA scratch');
  for (const kind of KINDS) await client.query(`CREATE TABLE scratch.${kind} (LIKE tms.${kind} INCLUDING ALL)`);
  await client.query('CHECKPOINT');
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await client.connect();
  return client;
}

/** Where share `part` of `parts` of a file starts: its even share of the bytes, moved on to the next line's start. */
async function shareStart(path: string, size: number, part: number, parts: number): Promise<number> {
  if (part === 0) return 0;
  if (part >= parts) return size;
  let at = Math.floor((size * part) / parts);
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, at - 1);
      if (bytesRead === 0) return size;
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      if (nl >= 0) return at - 1 + nl + 1;
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** Loads share `part` of `parts` of every file: a range of whole lines (all of them with part 0 of 1). */
async function loadShare(client: pg.Client, dir: string, part: number, parts: number): Promise<number> {
  const mapping = loadLegacyMapping();
  let rows = 0;
  for (const kind of KINDS) {
    const normalize = createNormalizer(kind, mapping);
    const path = join(dir, `${kind}.jsonl`);
    const { size } = await stat(path);
    const start = await shareStart(path, size, part, parts);
    const end = await shareStart(path, size, part + 1, parts);
    let line = 0;
    async function* encoded(): AsyncGenerator<string> {
      let batch: string[] = [];
      if (end <= start) return;
      for await (const text of createInterface({ input: createReadStream(path, { start, end: end - 1 }), crlfDelay: Infinity })) {
        line++;
        if (text.trim() === '') continue;
        const result = normalize(JSON.parse(text) as Record<string, unknown>);
        if (!result.ok) continue;
        const v = result.value;
        const id = newId(kind, v.legacyId);
        const row = kind === 'projects' ? projectRow(v as ProjectValues, id, 'naive', line)
          : kind === 'phases' ? phaseRow(v as PhaseValues, id, 'naive', line, newId('projects', (v as PhaseValues).projectLegacyId))
          : taskRow(v as TaskValues, id, 'naive', line, newId('projects', (v as TaskValues).projectLegacyId), (v as TaskValues).phaseLegacyId ? newId('phases', (v as TaskValues).phaseLegacyId!) : null);
        batch.push(encodeCopyLine(row));
        rows++;
        if (batch.length >= 1000) { yield `${batch.join('\n')}\n`; batch = []; }
      }
      if (batch.length > 0) yield `${batch.join('\n')}\n`;
    }
    await pipeline(Readable.from(encoded()), client.query(copyFrom(`COPY scratch.${kind} (${TABLE_SPECS[kind].columns.join(', ')}) FROM STDIN`)));
  }
  return rows;
}

export async function naiveLoader(url: string, dir: string): Promise<LoadFigures> {
  const client = await connect(url);
  try {
    await createScratchTables(client);
    const started = performance.now();
    const rows = await loadShare(client, dir, 0, 1);
    const seconds = (performance.now() - started) / 1000;
    await client.query('DROP SCHEMA scratch CASCADE');
    return { rows, seconds };
  } finally {
    await client.end();
  }
}

interface ShareReport { rows: number; startedAt: number; finishedAt: number }

/**
 * `parts` processes load a share each (a range of whole lines of every file), at once. Timed from the first share's start to the last one's end
 * (each measured after its process started and connected: Node's start-up is not the loader's work).
 */
export async function parallelNaiveLoader(url: string, dir: string, parts: number): Promise<LoadFigures> {
  const client = await connect(url);
  try {
    await createScratchTables(client);
    const self = fileURLToPath(import.meta.url);
    const reports = await Promise.all(Array.from({ length: parts }, (_, part) => new Promise<ShareReport>((resolve, reject) => {
      const child = spawn(process.execPath, [self, '--url', url, '--dir', dir, '--part', String(part), '--parts', String(parts)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ShareReport) : reject(new Error(`naive loader share ${part} exited ${code}`))));
    })));
    const seconds = (Math.max(...reports.map((r) => r.finishedAt)) - Math.min(...reports.map((r) => r.startedAt))) / 1000;
    await client.query('DROP SCHEMA scratch CASCADE');
    return { rows: reports.reduce((sum, r) => sum + r.rows, 0), seconds };
  } finally {
    await client.end();
  }
}

// As a child process of parallelNaiveLoader: load one share, print its figures as JSON.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { url: { type: 'string' }, dir: { type: 'string' }, part: { type: 'string' }, parts: { type: 'string' } } });
  const client = await connect(values.url!);
  try {
    const startedAt = Date.now();
    const rows = await loadShare(client, values.dir!, Number(values.part), Number(values.parts));
    process.stdout.write(JSON.stringify({ rows, startedAt, finishedAt: Date.now() } satisfies ShareReport));
  } finally {
    await client.end();
  }
}
