// parseChunk / splitChunk / readChunkBytes: a chunk read back from its file, parsed record by record.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyDataError } from '../../src/legacy/errors.js';
import type { LegacyFile } from '../../src/legacy/files.js';
import type { LegacyFormat } from '../../src/legacy/kinds.js';
import { NOT_UTF8, parseChunk, readChunkBytes, splitChunk, type ChunkLocation, type RawRecord } from '../../src/legacy/read-chunk.js';
import { chunkLocation, scanAll, tempDir, type TempDir } from './support.js';

const MiB = 1024 * 1024;

let dir: TempDir;
beforeAll(() => {
  dir = tempDir('read-chunk');
});
afterAll(() => dir.remove());

interface Planned {
  file: LegacyFile;
  locs: ChunkLocation[];
}

async function plan(format: LegacyFormat, content: string | Buffer, chunkSize = 1_000_000): Promise<Planned> {
  const file = dir.legacyFile('tasks', format, content);
  const { chunks, headers } = await scanAll(file, { chunkSize, chunkMaxBytes: 1024 * MiB });
  return { file, locs: chunks.map((c, i) => chunkLocation(file, c, headers[i]!)) };
}

async function parseAll(format: LegacyFormat, content: string | Buffer, maxRecordBytes = MiB, chunkSize?: number): Promise<RawRecord[]> {
  const { locs } = await plan(format, content, chunkSize);
  const out: RawRecord[] = [];
  for (const loc of locs) {
    const buf = await readChunkBytes(loc);
    out.push(...parseChunk(buf, splitChunk(buf, loc), loc, { maxRecordBytes }));
  }
  return out;
}

/** [line, fields] for a good record, [line, error] for a bad one. */
const summary = (records: RawRecord[]) => records.map((r) => (r.error === null ? [r.line, r.fields] : [r.line, r.error]));

describe('parseChunk: JSONL', () => {
  it('parses each line into its fields, with its line number', async () => {
    const records = await parseAll('jsonl', '{"id":"1","n":2.5,"t":["a"]}\n\n{"id":2,"o":{"x":null}}\n');
    expect(summary(records)).toEqual([[1, { id: '1', n: 2.5, t: ['a'] }], [3, { id: 2, o: { x: null } }]]);
  });

  it('rejects a line that is not JSON alone; its neighbours parse', async () => {
    const records = await parseAll('jsonl', '{"id":"1"}\n{"id": "2",\n{"id":"3"}\n');
    expect(records.map((r) => [r.line, r.error === null])).toEqual([[1, true], [2, false], [3, true]]);
    expect(records[1]!.error).toMatch(/^not valid JSON: /);
    expect(records[0]!.fields).toEqual({ id: '1' });
    expect(records[2]!.fields).toEqual({ id: '3' });
  });

  it('rejects JSON values that are not objects: array, string, number, null, boolean', async () => {
    const records = await parseAll('jsonl', '{"id":"0"}\n[1,2]\n"text"\n42\nnull\ntrue\n{"id":"6"}\n');
    expect(summary(records)).toEqual([
      [1, { id: '0' }],
      [2, 'record is not a JSON object'], [3, 'record is not a JSON object'], [4, 'record is not a JSON object'],
      [5, 'record is not a JSON object'], [6, 'record is not a JSON object'],
      [7, { id: '6' }],
    ]);
  });

  it('reports the right lines for a chunk that starts in the middle of the file', async () => {
    const records = await parseAll('jsonl', '{"id":"1"}\n{"id":"2"}\n\n{"id":"3"}\nbad\n{"id":"5"}\n', MiB, 2);
    expect(records.map((r) => r.line)).toEqual([1, 2, 4, 5, 6]);
    expect(records[3]!.error).toMatch(/not valid JSON/);
  });

  it('reads CRLF line ends and indented lines', async () => {
    const records = await parseAll('jsonl', '  {"id":"1"}\r\n\t{"id":"2"} \r\n');
    expect(summary(records)).toEqual([[1, { id: '1' }], [2, { id: '2' }]]);
  });

  it('rejects a record that is not valid UTF-8 alone', async () => {
    const content = Buffer.concat([Buffer.from('{"id":"1"}\n{"id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"id":"3"}\n')]);
    const records = await parseAll('jsonl', content);
    expect(summary(records)).toEqual([[1, { id: '1' }], [2, NOT_UTF8], [3, { id: '3' }]]);
  });

  it('rejects an oversized record alone, naming its size and the limit', async () => {
    const big = JSON.stringify({ id: '2', pad: 'x'.repeat(100) });
    const records = await parseAll('jsonl', `{"id":"1"}\n${big}\n{"id":"3"}\n`, 64);
    expect(summary(records)).toEqual([
      [1, { id: '1' }],
      [2, `record is ${big.length} bytes, more than the 64-byte limit (maxRecordBytes)`],
      [3, { id: '3' }],
    ]);
  });

  it('accepts a record of exactly maxRecordBytes', async () => {
    const rec = JSON.stringify({ id: '1', pad: 'x'.repeat(40) });
    const records = await parseAll('jsonl', `${rec}\n`, rec.length);
    expect(records[0]!.error).toBeNull();
  });

  it('skips a UTF-8 BOM at the start of the file', async () => {
    const records = await parseAll('jsonl', '\uFEFF{"id":"1"}\n{"id":"2"}\n');
    expect(summary(records)).toEqual([[1, { id: '1' }], [2, { id: '2' }]]);
  });

  it('skips the BOM on the per-record path too (a bad neighbour forces it)', async () => {
    const records = await parseAll('jsonl', '\uFEFF{"id":"1"}\n7\n');
    expect(summary(records)).toEqual([[1, { id: '1' }], [2, 'record is not a JSON object']]);
  });
});

// An earlier build parsed a chunk of well-formed objects with one JSON.parse and fell back to one per record;
// records are now parsed one at a time, and these keep holding: a record parses the same whatever its neighbours.
describe('parseChunk: a record parses the same whatever else is in its chunk', () => {
  const GOOD = [
    '{"id":"1","s":"\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\n","n":-0.0,"big":12345678901234567890,"e":1e-7}',
    '  {"nested": {"a": [1, {"b": [true, false, null]}], "": ""}}  ',
    '{"dup": 1, "dup": 2}',
    '{"__proto__": {"polluted": true}, "constructor": 1}',
    '{"unicode": "中文😀", "esc": "\\t\\r\\b\\f\\/"}',
    '{}',
  ];

  it.each(['jsonl', 'json'] as const)('%s: identical records with or without a bad neighbour', async (format) => {
    const text = (lines: string[]) => (format === 'jsonl' ? `${lines.join('\r\n')}\r\n` : `[\n${lines.join(',\n')}\n]`);
    const batch = await parseAll(format, text(GOOD)); // every record an object
    const single = await parseAll(format, text([...GOOD, '"not an object"'])); // and one that is not
    expect(single).toHaveLength(GOOD.length + 1);
    expect(single.at(-1)!.error).toBe('record is not a JSON object');
    expect(single.slice(0, GOOD.length)).toEqual(batch);
    expect(batch.every((r) => r.error === null)).toBe(true);
    // Own properties only, no prototype pollution.
    expect(Object.getPrototypeOf(batch[3]!.fields)).toBe(Object.prototype);
    expect(Object.keys(batch[3]!.fields!)).toEqual(['__proto__', 'constructor']);
    expect(batch[2]!.fields).toEqual({ dup: 2 });
  });

  it('an oversized record is rejected alone and the others parse as without it', async () => {
    const big = JSON.stringify({ id: 'big', pad: 'y'.repeat(200) });
    const batch = await parseAll('jsonl', `${GOOD.join('\n')}\n`, 150);
    const single = await parseAll('jsonl', `${GOOD.join('\n')}\n${big}\n`, 150);
    expect(single.slice(0, GOOD.length)).toEqual(batch);
    expect(single.at(-1)!.error).toMatch(/maxRecordBytes/);
  });

  // Fixed bug (regression test; the batch path is gone since): the batch path joined the JSONL records with ',' and
  // parses them as one array; it only checks that each record starts with '{' and ends with '}' and
  // that the element count matches. Malformed lines can re-pair across the joins and still give the
  // right count, so three malformed lines are MIGRATED with invented fields instead of rejected.
  // Repro (tasks.jsonl):   line 1: {"a":"}     line 2: {"}     line 3: {"x":1},{"y":2}
  // Expected: three rejects "not valid JSON". Actual: line 1 -> {a: '},{'}, line 2 -> {x: 1}, line 3 -> {y: 2}.
  it('never turns malformed JSONL lines into records (re-pairing across the batch join)', async () => {
    const records = await parseAll('jsonl', '{"a":"}\n{"}\n{"x":1},{"y":2}\n');
    expect(records.map((r) => r.error === null)).toEqual([false, false, false]);
  });
});

describe('parseChunk: JSON arrays', () => {
  it('parses elements with the line each starts on', async () => {
    const records = await parseAll('json', '[\n  {"id": "1"},\n  {"id": "2",\n   "x": [1]}\n]\n');
    expect(summary(records)).toEqual([[2, { id: '1' }], [3, { id: '2', x: [1] }]]);
  });

  it('rejects non-object elements and malformed elements alone', async () => {
    const records = await parseAll('json', '[{"id":"1"},\n 5,\n "s",\n null,\n [1],\n {"id": tru},\n {"id":"7"}]');
    expect(records.map((r) => r.error)).toEqual([
      null, 'record is not a JSON object', 'record is not a JSON object', 'record is not a JSON object', 'record is not a JSON object',
      expect.stringMatching(/^not valid JSON: /), null,
    ]);
    expect(records[6]!.fields).toEqual({ id: '7' });
  });

  it('rejects an invalid UTF-8 element alone', async () => {
    const content = Buffer.concat([Buffer.from('[{"id":"1"},\n{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"},\n{"id":"3"}]')]);
    expect(summary(await parseAll('json', content))).toEqual([[1, { id: '1' }], [2, NOT_UTF8], [3, { id: '3' }]]);
  });

  // Fixed bug (regression test): a .json file that starts with a UTF-8 BOM (as written
  // by e.g. Windows PowerShell 5 `Out-File -Encoding utf8`) is refused outright with LegacyDataError
  // "tasks.json:1: a .json legacy file must hold one JSON array of records", whereas .jsonl and .csv
  // files with a BOM are read (parseChunk strips it). Repro: bytes EF BB BF then '[{"id":"1"}]'.
  it('reads a .json file that starts with a BOM', async () => {
    expect(summary(await parseAll('json', '\uFEFF[{"id":"1"}]'))).toEqual([[1, { id: '1' }]]);
  });
});

describe('parseChunk: CSV', () => {
  it('maps fields to the header; an empty field is null; quoted commas, quotes and newlines kept', async () => {
    const records = await parseAll('csv', 'id,name,notes\n1,"a, ""b""","x\ny"\n2,,\n');
    expect(summary(records)).toEqual([[2, { id: '1', name: 'a, "b"', notes: 'x\ny' }], [4, { id: '2', name: null, notes: null }]]);
  });

  it('rejects a row with the wrong number of fields alone', async () => {
    const records = await parseAll('csv', 'id,name\n1,a\n2,b,c\n3\n4,d\n');
    expect(summary(records)).toEqual([
      [2, { id: '1', name: 'a' }],
      [3, 'has 3 fields, the header has 2'],
      [4, 'has 1 fields, the header has 2'],
      [5, { id: '4', name: 'd' }],
    ]);
  });

  it('a quote in the middle of an unquoted field keeps the record boundaries; the record itself is rejected as malformed', async () => {
    const records = await parseAll('csv', 'id,name\n1,ab"c\n2,d\n');
    expect(records.map((r) => r.line)).toEqual([2, 3]);
    expect(records[0]!.error).toMatch(/^not a valid CSV record: /);
    expect(records[1]!.fields).toEqual({ id: '2', name: 'd' });
  });

  it('says so when a quote is never closed (the rest of the file became one record)', async () => {
    const records = await parseAll('csv', 'id,name\n1,a\n2,"b\n3,c\n4,d\n');
    expect(records.map((r) => r.line)).toEqual([2, 3]);
    expect(records[1]!.error).toMatch(/a quote opened on line 3 is never closed, so lines 3-5 were read as this one record\)$/);
  });

  it('names the file\'s line in a CSV parse error, not the line within the record', async () => {
    const records = await parseAll('csv', 'id,name\n1,a\n2,"b\nc"x\n3,d\n');
    expect(records.map((r) => r.line)).toEqual([2, 3, 5]);
    expect(records[1]!.error).toMatch(/^not a valid CSV record: .*at line 4\b/);
    // The same with CRLF line ends (Excel): csv-parse counted each CRLF inside the quotes as two lines.
    const crlf = await parseAll('csv', 'id,name\r\n1,a\r\n2,"b\r\nc"x\r\n3,d\r\n');
    expect(crlf.map((r) => r.line)).toEqual([2, 3, 5]);
    expect(crlf[1]!.error).toMatch(/^not a valid CSV record: .*at line 4\b/);
  });

  it('reads the mapping\'s nullText (MySQL\'s \\N) as no value, in CSV only', async () => {
    const { locs: [loc] } = await plan('csv', 'id,notes,owner\n1,\\N,NULL\n2,"\\N",x\\N\n');
    if (!loc) throw new Error('no chunk planned');
    const buf = await readChunkBytes(loc);
    const records = parseChunk(buf, splitChunk(buf, loc), loc, { maxRecordBytes: MiB, nullText: ['\\N', 'NULL'] });
    expect(records.map((r) => r.fields)).toEqual([{ id: '1', notes: null, owner: null }, { id: '2', notes: null, owner: 'x\\N' }]);
    expect(parseChunk(buf, splitChunk(buf, loc), loc, { maxRecordBytes: MiB }).map((r) => r.fields?.notes)).toEqual(['\\N', '\\N']);
  });

  it('names an empty row (only separators, as a spreadsheet leaves after its data) as such', async () => {
    const records = await parseAll('csv', 'id,name\n1,a\n,\n , \n');
    expect(summary(records)).toEqual([[2, { id: '1', name: 'a' }], [3, expect.stringMatching(/^the row is empty \(only separators/)], [4, expect.stringMatching(/^the row is empty/)]]);
  });

  it('rejects an invalid UTF-8 row alone, saying what the file likely is', async () => {
    expect(NOT_UTF8).toMatch(/^record is not valid UTF-8 \(a Latin-1 or Windows-1252 export\? convert the file/);
    const content = Buffer.concat([Buffer.from('id,name\n1,a\n2,'), Buffer.from([0xe2, 0x82]), Buffer.from('\n3,c\n')]);
    expect(summary(await parseAll('csv', content))).toEqual([[2, { id: '1', name: 'a' }], [3, NOT_UTF8], [4, { id: '3', name: 'c' }]]);
  });

  it('rejects an oversized row alone', async () => {
    const records = await parseAll('csv', `id,name\n1,a\n2,${'z'.repeat(100)}\n3,c\n`, 50);
    expect(summary(records)).toEqual([[2, { id: '1', name: 'a' }], [3, 'record is 102 bytes, more than the 50-byte limit (maxRecordBytes)'], [4, { id: '3', name: 'c' }]]);
  });

  it('reads a file with a BOM and CRLF line ends', async () => {
    const records = await parseAll('csv', '\uFEFFid,name\r\n1,a\r\n2,"b\r\nc"\r\n');
    expect(summary(records)).toEqual([[2, { id: '1', name: 'a' }], [3, { id: '2', name: 'b\r\nc' }]]);
  });

  it('refuses a CSV chunk planned without its header', async () => {
    const { locs } = await plan('csv', 'id\n1\n');
    const loc = { ...locs[0]!, header: null };
    const buf = await readChunkBytes(loc);
    expect(() => parseChunk(buf, splitChunk(buf, loc), loc, { maxRecordBytes: MiB })).toThrow(/planned without its header/);
  });
});

describe('splitChunk / readChunkBytes: the file must be what was planned', () => {
  it('throws LegacyDataError when a record byte changed (same size)', async () => {
    const { file, locs } = await plan('jsonl', '{"id":"1"}\n{"id":"2"}\n');
    writeFileSync(file.path, '{"id":"1"}\n{"id":"3"}\n');
    const buf = await readChunkBytes(locs[0]!);
    expect(() => splitChunk(buf, locs[0]!)).toThrow(LegacyDataError);
    expect(() => splitChunk(buf, locs[0]!)).toThrow(/^tasks\.jsonl:1: the file changed since the run was planned/);
  });

  it('throws when the record count changed (a byte became a newline)', async () => {
    const { file, locs } = await plan('jsonl', '{"id":"1"}\n{"id":"2"}\n', 1);
    writeFileSync(file.path, '{"id":"1"}\n{"id"\n"2"}\n');
    const loc = locs[1]!;
    const buf = await readChunkBytes(loc);
    expect(() => splitChunk(buf, loc)).toThrow(/tasks\.jsonl:2: the file changed/);
  });

  it('an untouched later chunk still reads fine when an earlier one changed', async () => {
    const { file, locs } = await plan('csv', 'id\n1\n2\n', 1);
    writeFileSync(file.path, 'id\n9\n2\n');
    const ok = await readChunkBytes(locs[1]!);
    expect(splitChunk(ok, locs[1]!)).toHaveLength(1);
    const bad = await readChunkBytes(locs[0]!);
    expect(() => splitChunk(bad, locs[0]!)).toThrow(LegacyDataError);
  });

  it('readChunkBytes: a file now shorter than planned, or gone, is a LegacyDataError', async () => {
    const { file, locs } = await plan('jsonl', '{"id":"1"}\n{"id":"2"}\n');
    writeFileSync(file.path, '{"id":"1"}\n');
    await expect(readChunkBytes(locs[0]!)).rejects.toThrow(/shorter than when the run was planned/);
    await expect(readChunkBytes({ ...locs[0]!, path: `${dir.path}/gone.jsonl` })).rejects.toThrow(/Cannot open legacy file .*gone\.jsonl/);
  });

  it('readChunkBytes returns exactly the planned byte range', async () => {
    const { locs } = await plan('json', '[ {"id":"1"} ,\n {"id":"2"} ]', 1);
    expect((await readChunkBytes(locs[1]!)).toString()).toBe('{"id":"2"}');
  });
});
