// COPY text encoding: what encodeCopyLine sends must be, byte for byte, what Postgres prints back with
// COPY TO (the per-chunk verification compares the two as strings). Checked against the real server.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalDecimal, canonicalTimestamp } from '../../src/legacy/canonical-values.js';
import { arrayLiteral, encodeCopyLine, encodeCopyValue, escapeCopy, jsonbText, type CopyValue } from '../../src/store/copy-text.js';
import { utcClient } from './support.js';

let client: pg.Client;
beforeAll(async () => {
  client = await utcClient();
  await client.query(`CREATE TEMP TABLE copy_probe (id int, t text, a text[], j jsonb, n numeric, d date, ts timestamptz)`);
});
afterAll(async () => {
  await client.query('DROP TABLE IF EXISTS copy_probe');
  await client.end();
});

const COLUMNS = ['id', 't', 'a', 'j', 'n', 'd', 'ts'] as const;
type Column = (typeof COLUMNS)[number];

/** Sends the rows with COPY FROM, reads them back with COPY TO; returns [sent lines, received lines]. */
async function roundTrip(rows: readonly CopyValue[][]): Promise<[string[], string[]]> {
  await client.query('TRUNCATE copy_probe');
  const lines = rows.map(encodeCopyLine);
  await pipeline(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]), client.query(copyFrom('COPY copy_probe FROM STDIN')));
  const parts: Buffer[] = [];
  for await (const part of client.query(copyTo('COPY (SELECT * FROM copy_probe ORDER BY id) TO STDOUT')) as AsyncIterable<Buffer>) parts.push(part);
  const text = Buffer.concat(parts).toString('utf8');
  return [lines, text === '' ? [] : text.slice(0, -1).split('\n')];
}

/** One row per value, the value in `column`, every other column null. */
function rowsFor(column: Column, values: readonly CopyValue[]): CopyValue[][] {
  return values.map((value, i) => COLUMNS.map((c) => (c === 'id' ? i : c === column ? value : null)));
}

async function expectRoundTrip(column: Column, values: readonly CopyValue[]): Promise<void> {
  const [sent, back] = await roundTrip(rowsFor(column, values));
  expect(back).toHaveLength(values.length);
  sent.forEach((line, i) => expect(back[i], `${column} value #${i}: ${JSON.stringify(values[i])}`).toBe(line));
}

// ---- pure encodings with known answers ------------------------------------------------------------

describe('copy-text encodings', () => {
  it('escapeCopy escapes backslash and the control characters COPY escapes, nothing else', () => {
    expect(escapeCopy('a\tb\nc\rd\\e\bf\fg\vh')).toBe('a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh');
    expect(escapeCopy('plain "quoted" text, 中文 😀')).toBe('plain "quoted" text, 中文 😀');
    expect(escapeCopy('\u0001\u001f')).toBe('\u0001\u001f');
  });

  it('encodeCopyValue: null is \\N, a text "\\N" is not', () => {
    expect(encodeCopyValue(null)).toBe('\\N');
    expect(encodeCopyValue('\\N')).toBe('\\\\N');
    expect(encodeCopyLine(['a', null, 3])).toBe('a\t\\N\t3');
  });

  it('arrayLiteral quotes what array_out quotes', () => {
    expect(arrayLiteral(['a', '', 'NULL', 'null', 'b c', 'x,y', '{', '}', 'q"q', 'b\\s', 'é'])).toBe(
      '{a,"","NULL","null","b c","x,y","{","}","q\\"q","b\\\\s",é}',
    );
    expect(arrayLiteral([])).toBe('{}');
  });

  it('jsonbText prints keys by length then bytes, ", " and ": " separators, numbers without exponents', () => {
    expect(jsonbText({ bb: 1, a: [1, 'x'], ccc: { z: null, y: true } })).toBe('{"a": [1, "x"], "bb": 1, "ccc": {"y": true, "z": null}}');
    expect(jsonbText({ n: 1e21, m: 1e-7, k: -1.5e-7 })).toBe('{"k": -0.00000015, "m": 0.0000001, "n": 1000000000000000000000}');
    expect(jsonbText('a"b\\c\n\u0001')).toBe('"a\\"b\\\\c\\n\\u0001"');
  });
});

// ---- against the server -------------------------------------------------------------------------------

describe('COPY round trip against Postgres', () => {
  it('text: control characters, backslashes, quotes, unicode', async () => {
    await expectRoundTrip('t', [
      '', 'plain', 'tab\there', 'line\nbreak', 'cr\rhere', 'crlf\r\n', 'back\\slash', 'ends with \\', '\\N', '\\.', '\\',
      'bell-ish \b form \f vtab \v', 'ctl \u0001\u0002\u001b\u001f\u007f', '"double" \'single\'', 'emoji 😀👍🏽 zwj 👩‍👩‍👧',
      '中文 日本語 한국어', 'nbsp\u00a0ideographic\u3000', 'rtl \u202e text', '\u2028\u2029', ' leading and trailing ',
      'x'.repeat(10_000),
    ]);
  });

  it('text[]: empty strings, NULL, spaces, quotes, commas, braces, backslashes', async () => {
    await expectRoundTrip('a', [
      [], [''], ['', ''], ['NULL'], ['null', 'Null'], ['a b'], [' lead', 'trail '], ['"'], ['say "hi"'], ['a,b'], ['{'], ['}'], ['{a,b}'],
      ['back\\slash'], ['\\'], ['tab\tin'], ['nl\nin'], ['cr\rin'], ['vt\vin'], ['ff\fin'], ['plain', 'é', '中文', '😀'],
      ['(', ')', '[', ']', ':', ';', "'"], ['NULLx', 'xNULL'], ['\\"'], ['a\\,b'],
    ]);
  });

  it('jsonb: nested objects and arrays, key order (length then bytes, non-ASCII keys), tricky strings', async () => {
    await expectRoundTrip('j', [
      {},
      { a: {}, b: [] },
      { bb: 1, a: 2, ccc: 3, aa: 4, b: 5, '': 6 },
      { é: 1, ab: 2, z: 3, 'ü1': 4, 中: 5, '😀': 6, aaa: 7, zzzz: 8 },
      { B: 1, a: 2, _: 3, '0': 4, Z: 5 },
      { nested: { deeper: { deepest: [1, [2, [3, { k: 'v' }]]] } }, list: [{ b: 1, a: 2 }, [], {}] },
      { s: 'quote " backslash \\ slash / newline \n tab \t cr \r bs \b ff \f' },
      { ctl: '\u0001\u0002\u001b\u001f', del: '\u007f', ls: '\u2028', emoji: '😀', cjk: '中文' },
      { '"key"': 'with quotes', 'key\\': 'backslash key', 'tab\tkey': 1 },
      { t: true, f: false, n: null },
      { arr: [null, true, false, 'x', 0] },
    ]);
  });

  it('jsonb: numbers (fractions, exponents, -0, big integers, extremes)', async () => {
    await expectRoundTrip('j', [
      { n: 1.5 }, { n: 1e21 }, { n: 1e-7 }, { n: -0 }, { n: 0 }, { n: 2 ** 53 }, { n: JSON.parse('9007199254740993') as number }, { n: -123456789012345680000 },
      { n: 0.1 + 0.2 }, { n: 123.456 }, { n: 1e300 }, { n: 5e-324 }, { n: -1.7976931348623157e308 }, { n: 1.5e-10 }, { n: 12345678.9 },
      { list: [1, -1, 1e22, 3.14e-15] },
    ]);
  });

  it('numeric: canonical decimals', async () => {
    const values = ['+04.50', '.5', '5.', '1e3', '1.5e-1', '-0.0', '0007', '123456789012345678901234567890.5', '-1e-9', '0']
      .map((t) => canonicalDecimal(t));
    expect(values).not.toContain(null);
    await expectRoundTrip('n', values);
  });

  it('int: JavaScript integers, including the int4 extremes', async () => {
    const ids = [-2147483648, -1, 0, 42, 2147483647]; // ascending: the read-back orders by id
    const [sent, back] = await roundTrip(ids.map((id) => [id, null, null, null, null, null, null]));
    expect(back).toEqual(sent);
    expect(sent[0]).toMatch(/^-2147483648\t/);
  });

  it('date: YYYY-MM-DD values', async () => {
    await expectRoundTrip('d', ['2021-03-04', '2020-02-29', '0001-01-01', '9999-12-31', '1970-01-01']);
  });

  it('timestamptz: canonical timestamps', async () => {
    const values = ['2021-03-04T10:00:00Z', '2021-03-04T12:00:00.120+02:00', '2021-03-04T10:00:00.000001Z', '2021-03-04', '0999-06-01T00:00:00Z', '2024-02-29T23:30:00-01:00']
      .map((t) => canonicalTimestamp(t));
    expect(values).not.toContain(null);
    await expectRoundTrip('ts', values);
  });

  it('nulls in every column', async () => {
    await expectRoundTrip('t', [null]);
    const [sent, back] = await roundTrip([[1, null, null, null, null, null, null]]);
    expect(back).toEqual(sent);
    expect(sent[0]).toBe('1\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N');
  });

  it('a full row of tricky values in every column', async () => {
    const row: CopyValue[] = [7, 'a\tb\\c\nd', ['', 'NULL', 'x y', 'q"', '{}', 'b\\'], { é: ['\n', 1e21], a: { '': null } }, '4.50', '2020-02-29', '2021-03-04 04:30:00.1+00'];
    const [sent, back] = await roundTrip([row]);
    expect(back).toEqual(sent);
  });

  // Fixed bug (regression test): NEEDS_QUOTES uses JS `\s`, which also matches Unicode
  // spaces (U+00A0 no-break space, U+3000 ideographic space, U+2000-U+200A, U+FEFF, ...). Postgres'
  // array_out only quotes for ASCII whitespace (array_isspace: space \t \n \r \v \f), so a tag like
  // "a\u00a0b" is sent as {"a b"} but printed back as {a b}: the chunk's read-back verification
  // never matches. Repro: tags ['a\u00a0b'] (or ['東京\u3000駅']) -> sent '{"a b"}', Postgres prints '{a b}'.
  it('text[]: elements with non-ASCII whitespace (no-break space, ideographic space)', async () => {
    await expectRoundTrip('a', [['a\u00a0b'], ['東京\u3000駅'], ['\ufeffbom']]);
  });

  // BUG (src/store/copy-text.ts / src/legacy/normalize.ts): a lone UTF-16 surrogate (e.g. from a legacy
  // JSON "\ud83d" -- an emoji cut in half by a legacy system truncating by code units) is encoded by
  // Node as U+FFFD when the COPY line is sent, so what Postgres prints back never equals the JS string
  // that is compared. Neither the normalizer (reject) nor the encoder (replace) handles it.
  // Repro: text value 'cut \ud83d' -> Postgres prints 'cut \ufffd'; same inside jsonb.
  it.fails('text and jsonb with a lone surrogate', async () => {
    await expectRoundTrip('t', ['cut \ud83d']);
  });
});
