// canonicalTimestamp / canonicalDecimal must print what Postgres prints (timestamptz::text in a UTC
// session, numeric::text), checked against the real server.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalDecimal, canonicalTimestamp } from '../../src/legacy/canonical-values.js';
import { utcClient } from './support.js';

let client: pg.Client;
beforeAll(async () => {
  client = await utcClient();
  await client.query('BEGIN'); // probes use savepoints; nothing is written
});
afterAll(async () => {
  await client.query('ROLLBACK');
  await client.end();
});

/** What Postgres prints for `text::type`, or null when it refuses the input. */
async function pgText(text: string, type: 'timestamptz' | 'numeric'): Promise<string | null> {
  await client.query('SAVEPOINT probe');
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT $1::${type}::text AS v`, [text]);
    await client.query('RELEASE SAVEPOINT probe');
    return rows[0]!.v;
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT probe');
    return null;
  }
}

const VALID_TIMESTAMPS = [
  '2021-03-04T10:00:00Z',
  '2021-03-04t10:00:00z', // RFC 3339 allows lower case
  '2021-03-04T10:00:00.5z',
  '2021-03-04t10:00:00+02:00',
  '2021-03-04T10:00:00.1230000Z', // .NET's 7 digits: zeros past the sixth change nothing
  '2021-03-04T10:00:00.123456000+01:00',
  '2021-03-04T10:00:00.1Z',
  '2021-03-04T10:00:00.123456Z',
  '2021-03-04T10:00:00.000001Z',
  '2021-03-04T10:00:00.100Z',
  '2021-03-04T10:00:00.000Z',
  '2021-03-04T10:00:00+05:30',
  '2021-03-04T10:00:00-08:00',
  '2021-03-04T10:00:00+0530',
  '2021-03-04T10:00:00.5+0530',
  '2021-03-04T02:00:00+05',
  '2021-03-04T23:30:00-08:00', // crosses midnight
  '2021-12-31T23:59:59-01:00', // crosses the year
  '2021-01-01T00:00:00+14:00', // back into the previous year
  '2021-03-04T10:00:00+00:00',
  '2021-03-04T10:00:00-00:00',
  '2021-03-04T10:00:00', // no zone: UTC
  '2021-03-04 10:00:00',
  '2021-03-04 10:00:00.25',
  '2021-03-04T10:00',
  '2021-03-04 10:00Z',
  '2021-03-04',
  '2020-02-29T12:00:00Z', // leap day
  '2000-02-29T00:00:00Z', // divisible by 400: leap
  '2024-02-29T23:30:00-01:00', // leap day, shifted into March
  '2021-03-01T00:30:00+01:00', // shifted back into February (28 days)
  '2020-03-01T00:30:00+01:00', // shifted back into February 29
  '1970-01-01T00:00:00Z',
  '1969-12-31T23:59:59.999999Z',
  '0999-06-01T12:00:00Z',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2021-03-04T10:00:00.999999-09:30',
  '  2021-03-04T10:00:00+01:00  ',
];

const INVALID_TIMESTAMPS = [
  '2021-03-04T10:00:00.1234567Z', // a 7th digit that is not 0: Postgres would round it away
  '2021-03-04T10:00:00.0000001+02:00',
  '2021-02-29T00:00:00Z', // not a leap year
  '2021-02-29',
  '1900-02-29T00:00:00Z', // divisible by 100, not 400
  '2021-04-31T00:00:00+02:00',
  '2021-13-01T00:00:00Z',
  '2021-00-10T00:00:00Z',
  '2021-01-00',
  '2021-01-01T24:00:00Z', // Postgres reads 24:00 as the next midnight; we refuse it (never guess)
  '2021-01-01 24:00',
  '2021-01-01T23:60:00Z',
  '2021-01-01T23:59:60Z',
  '2021-01-01T10:00:00.1234567Z', // more than microseconds
  '2021-01-01T10:00:00+16:00',
  '2021-01-01T10:00:00+05:60',
  '0000-01-01T00:00:00Z',
  'soon',
  '',
  '2021-3-4',
  '20210304T100000Z',
  '2021-03-04T10',
  '2021-03-04T10:00:00 Z',
];

describe('canonicalTimestamp', () => {
  it.each(VALID_TIMESTAMPS)('%j: equals Postgres timestamptz::text (UTC session)', async (input) => {
    const expected = await pgText(input, 'timestamptz');
    expect(expected).not.toBeNull();
    expect(canonicalTimestamp(input)).toBe(expected);
  });

  it.each(INVALID_TIMESTAMPS)('%j: is not a timestamp (null)', (input) => {
    expect(canonicalTimestamp(input)).toBeNull();
  });

  it('fast path (…Z) and slow path agree for the same instant', () => {
    expect(canonicalTimestamp('2021-03-04T10:00:00.120Z')).toBe('2021-03-04 10:00:00.12+00');
    expect(canonicalTimestamp('2021-03-04T12:00:00.120+02:00')).toBe('2021-03-04 10:00:00.12+00');
    expect(canonicalTimestamp('2021-03-04 10:00:00.12')).toBe('2021-03-04 10:00:00.12+00');
  });

  // Fixed bug (regression test): years 0000-0099 go through
  // Date.UTC, which maps them to 1900-1999. Input '0099-01-01T00:00:00+01:00': Postgres prints
  // '0098-12-31 23:00:00+00', canonicalTimestamp returns '1998-12-31 23:00:00+00' (a silently different
  // instant, 1900 years off). The 'Z' fast path is not affected.
  it('years below 100 with an offset keep their year', async () => {
    const input = '0099-01-01T00:00:00+01:00';
    expect(canonicalTimestamp(input)).toBe(await pgText(input, 'timestamptz'));
  });
});

const VALID_DECIMALS = [
  '0', '4.5', '+04.50', '.5', '5.', '1e3', '1E3', '1.5e-1', '1.5E+2', '-0.0', '-0', '0007', '0.000', '00.0100',
  '-12.340', '123456789012345678901234567890.123456789', '1e-7', '2.5e-10', '1.23e2', '1.2345e2', '12e-1',
  '-.5', '+.25', '1e0', '0e5', '-0e-3', '  7.25  ', '1e21', '9.99e20', '1.50e1', '100e-2', '5e-324',
];

const INVALID_DECIMALS = ['', '.', '-', '+', 'e5', '.e1', '1e', '1e+', '1.2.3', 'abc', '4,5', '1 000', '0x10', '--1', '1e1.5'];

describe('canonicalDecimal', () => {
  it.each(VALID_DECIMALS)('%j: equals Postgres numeric::text', async (input) => {
    const expected = await pgText(input, 'numeric');
    expect(expected).not.toBeNull();
    expect(canonicalDecimal(input)).toBe(expected);
  });

  it.each(INVALID_DECIMALS)('%j: is not a number (null)', (input) => {
    expect(canonicalDecimal(input)).toBeNull();
  });

  it('refuses NaN and Infinity (Postgres numeric takes them, a number of hours cannot be them)', () => {
    for (const text of ['NaN', 'Infinity', '-Infinity', 'inf']) expect(canonicalDecimal(text)).toBeNull();
  });

  it('a seeded sweep of generated decimals matches Postgres', async () => {
    let a = 12345;
    const rnd = (n: number) => {
      a = (a * 1103515245 + 12345) % 2 ** 31;
      return a % n;
    };
    const digits = (n: number) => Array.from({ length: n }, () => String(rnd(10))).join('');
    const inputs: string[] = [];
    for (let i = 0; i < 150; i++) {
      const sign = ['', '-', '+'][rnd(3)]!;
      const whole = digits(rnd(6));
      const frac = rnd(2) ? `.${digits(rnd(6))}` : '';
      const exp = rnd(3) === 0 ? `e${['', '-', '+'][rnd(3)]!}${rnd(12)}` : '';
      const text = `${sign}${whole || (frac.length > 1 ? '' : '0')}${frac}${exp}`;
      inputs.push(text);
    }
    const { rows } = await client.query<{ v: string }>('SELECT x::numeric::text AS v FROM unnest($1::text[]) WITH ORDINALITY AS t(x, i) ORDER BY i', [inputs]);
    expect(inputs.map(canonicalDecimal)).toEqual(rows.map((r) => r.v));
  });
});
