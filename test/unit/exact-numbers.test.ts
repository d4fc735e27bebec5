// exactMembers: the members whose numbers JSON.parse changes, re-read as written (found by the exports
// probe: estimate_hours 123456789.123456789 landed as 123456789.12345679, and verify agreed; a 64-bit id in
// an extra field landed rounded in legacy_extra).
import { describe, expect, it } from 'vitest';
import { parseLegacyMapping, loadLegacyMapping } from '../../src/config/legacy-mapping.js';
import { ExactDecimal, exactMembers, type ExactValue } from '../../src/legacy/exact-numbers.js';
import { jsonbText } from '../../src/store/copy-text.js';
import { createNormalizer } from '../../src/legacy/normalize.js';

/** A number as written; an array or object as jsonb prints it. */
const shown = (value: ExactValue) => (value instanceof ExactDecimal ? value.text : jsonbText(value));
const exact = (text: string) => {
  const found = exactMembers(text);
  return found ? Object.fromEntries([...found].map(([name, value]) => [name, shown(value)])) : null;
};
const inexactTopLevelDecimals = (text: string) => exactMembers(text) ?? undefined;

describe('exactMembers', () => {
  it('finds top-level decimals a double changes, and only those', () => {
    expect(exact('{"id":"T1","estimate_hours":123456789.123456789,"x":0.1234567890123456789}')).toEqual({ estimate_hours: '123456789.123456789', x: '0.1234567890123456789' });
    expect(exact('{ "a" : -1.00000000000000001e2 , "b": 1.5}')).toEqual({ a: '-1.00000000000000001e2' });
    expect(exact('{"estimate_hours":12345678901234567}')).toEqual({ estimate_hours: '12345678901234567' });
    // Of a member given twice, the last one counts, as in JSON.parse.
    expect(exact('{"a":1.00000000000000001,"a":2}')).toBeNull();
    expect(exact('{"a":1.00000000000000001,"a":"x"}')).toBeNull();
    expect(exact('{"a":1.00000000000000001,"a":[1]}')).toBeNull();
    expect(exact('{"a":1.00000000000000001,"a":true}')).toBeNull();
    expect(exact('{"a":2,"a":1.00000000000000001}')).toEqual({ a: '1.00000000000000001' });
  });

  it('leaves alone what a double holds, values beyond a double and strings', () => {
    expect(exact('{"id":"T1","estimate_hours":4.5,"title":"call 0123456789012345678"}')).toBeNull();
    expect(exact('{"a":2.500000000000000000000}')).toBeNull(); // trailing zeros: the same number
    expect(exact('{"id":9007199254740991}')).toBeNull();
    expect(exact('{"a":1e400,"b":1.2345678901234567890e400}')).toBeNull();
    expect(exact('{"a":"1.123456789012345678","b\\"":"x"}')).toBeNull();
    // A name with an escaped quote, and a number after nested values.
    expect(exact('{"n\\"m":{"z":[1,2]},"e":true,"f":null,"g":9.87654321098765432}')).toEqual({ g: '9.87654321098765432' });
  });
});

describe('normalize reads the exact text in place of the double', () => {
  const mapping = loadLegacyMapping();
  const task = { id: 'T1', project_id: 'P1', title: 't' };

  it('in estimate_hours (also under a rename), and rejects a position that is no exact integer', () => {
    const normalize = createNormalizer('tasks', mapping);
    const text = '{"id":"T1","project_id":"P1","title":"t","estimate_hours":123456789.123456789}';
    const result = normalize(JSON.parse(text) as Record<string, unknown>, inexactTopLevelDecimals(text));
    expect(result.ok && result.value.estimateHours).toBe('123456789.123456789');
    const renamed = createNormalizer('tasks', parseLegacyMapping({ fields: { tasks: { hours: 'estimate_hours' } } }, 'm', mapping));
    const r2 = renamed({ ...task, hours: 0.12345678901234568 }, new Map([['hours', new ExactDecimal('0.1234567890123456789', '0.1234567890123456789')]]));
    expect(r2.ok && r2.value.estimateHours).toBe('0.1234567890123456789');
    const phase = createNormalizer('phases', mapping)({ id: 'F1', project_id: 'P1', name: 'f', position: 3 }, new Map([['position', new ExactDecimal('3.0000000000000001', '3.0000000000000001')]]));
    expect(phase.ok ? 'migrated' : phase.reason).toMatch(/^position must be/);
  });

  // Found by the second read: the exact text in a text field or an id passed checks a number fails, and an
  // id read differently from the declared edges' (which read it as written) split prepare from migrate.
  it('only in numeric fields: an id or a title keeps JSON\'s reading', () => {
    const normalize = createNormalizer('tasks', mapping);
    const text = '{"id":1.00000000000000001,"project_id":"P1","title":1.23456789012345678}';
    const result = normalize(JSON.parse(text) as Record<string, unknown>, inexactTopLevelDecimals(text));
    expect(result.ok ? 'migrated' : [result.field, result.reason]).toEqual(['title', expect.stringMatching(/^title must be/) as unknown]);
    const idOnly = '{"id":1.00000000000000001,"project_id":"P1","title":"t"}';
    const task = normalize(JSON.parse(idOnly) as Record<string, unknown>, inexactTopLevelDecimals(idOnly));
    expect(task.ok && task.value.legacyId).toBe('1');
  });
});

// A 64-bit id of another system (Jira, a snowflake id) in an extra field landed rounded in legacy_extra:
// 1234567890123456789 as 1234567890123456800.
describe('numbers in legacy_extra are kept as written', () => {
  const mapping = loadLegacyMapping();
  const normalizeText = (text: string) => createNormalizer('tasks', mapping)(JSON.parse(text) as Record<string, unknown>, exactMembers(text) ?? undefined);
  const extraOf = (text: string) => {
    const result = normalizeText(text);
    return result.ok ? jsonbText(result.value.extra) : result.reason;
  };

  it('at the top level and nested in arrays and objects, as Postgres prints them', () => {
    expect(extraOf('{"id":"T1","project_id":"P1","title":"t","jira_id":1234567890123456789,"rate":1.2345678901234567890e5}'))
      .toBe('{"rate": 123456.78901234567890, "jira_id": 1234567890123456789}');
    expect(extraOf('{"id":"T1","project_id":"P1","title":"t","links":[{"id":-12345678901234567890,"n":1.5},[true,null,"9999999999999999999"]],"x":{"__proto__":{"y":0.12345678901234567891}}}'))
      .toBe('{"x": {"__proto__": {"y": 0.12345678901234567891}}, "links": [{"n": 1.5, "id": -12345678901234567890}, [true, null, "9999999999999999999"]]}');
    // A short number a double cannot hold either (it reads as 0), after a comma.
    expect(exact('{"a":[1, 1e-400]}')).toEqual({ a: `[1, 0.${'0'.repeat(399)}1]` });
    // Of a nested member given twice, the last counts, in its first place (as JSON.parse does).
    expect(exact('{"a":{"k":12345678901234567890,"k":1,"m":22222222222222222222}}')).toEqual({ a: '{"k": 1, "m": 22222222222222222222}' });
  });

  it('leaves what a double holds to JSON.parse, also when a string looks long', () => {
    expect(exact('{"a":[1,2.5,"12345678901234567890"],"b":{"c":"1e400"},"d":"9.87654321098765432"}')).toBeNull();
    expect(exact('{"a":[9007199254740991, 1e-5, 0.1]}')).toBeNull();
    expect(extraOf('{"id":"T1","project_id":"P1","title":"t","a":[9007199254740991,"12345678901234567890"]}')).toBe('{"a": [9007199254740991, "12345678901234567890"]}');
  });

  it('does not re-read a value nested deeper than it may be stored (its record is rejected for the nesting)', () => {
    const deep = `${'['.repeat(200)}12345678901234567890${']'.repeat(200)}`;
    expect(exact(`{"a":${deep}}`)).toBeNull();
    expect(normalizeText(`{"id":"T1","project_id":"P1","title":"t","a":${deep}}`)).toMatchObject({ ok: false, field: 'a', reason: expect.stringMatching(/nests arrays or objects more than 100 levels/) as unknown });
  });

  it('rejects a number whose exponent is beyond what is stored, naming the field', () => {
    const result = normalizeText('{"id":"T1","project_id":"P1","title":"t","tiny":1.2345678901234567890e-1001}');
    expect(result.ok ? 'migrated' : [result.field, result.reason]).toEqual(['tiny', 'tiny holds a number with an exponent beyond ±1000 (1.2345678901234567890e-1001), which is not stored']);
  });
});
