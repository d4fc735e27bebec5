// inexactTopLevelDecimals: the exact text of top-level decimals JSON.parse changes (found by the exports
// probe: estimate_hours 123456789.123456789 landed as 123456789.12345679, and verify agreed).
import { describe, expect, it } from 'vitest';
import { parseLegacyMapping, loadLegacyMapping } from '../../src/config/legacy-mapping.js';
import { inexactTopLevelDecimals } from '../../src/legacy/exact-numbers.js';
import { createNormalizer } from '../../src/legacy/normalize.js';

const exact = (text: string) => {
  const found = inexactTopLevelDecimals(text);
  return found ? Object.fromEntries(found) : null;
};

describe('inexactTopLevelDecimals', () => {
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

  it('leaves alone what a double holds, values beyond a double, nested values and strings', () => {
    expect(exact('{"id":"T1","estimate_hours":4.5,"title":"call 0123456789012345678"}')).toBeNull();
    expect(exact('{"a":2.500000000000000000000}')).toBeNull(); // trailing zeros: the same number
    expect(exact('{"id":9007199254740991}')).toBeNull();
    expect(exact('{"a":1e400,"b":1.2345678901234567890e400}')).toBeNull();
    expect(exact('{"a":[1.123456789012345678],"b":{"c":1.123456789012345678}}')).toBeNull();
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
    const result = normalize(JSON.parse(text) as Record<string, unknown>, inexactTopLevelDecimals(text) ?? undefined);
    expect(result.ok && result.value.estimateHours).toBe('123456789.123456789');
    const renamed = createNormalizer('tasks', parseLegacyMapping({ fields: { tasks: { hours: 'estimate_hours' } } }, 'm', mapping));
    const r2 = renamed({ ...task, hours: 0.12345678901234568 }, new Map([['hours', '0.1234567890123456789']]));
    expect(r2.ok && r2.value.estimateHours).toBe('0.1234567890123456789');
    const phase = createNormalizer('phases', mapping)({ id: 'F1', project_id: 'P1', name: 'f', position: 3 }, new Map([['position', '3.0000000000000001']]));
    expect(phase.ok ? 'migrated' : phase.reason).toMatch(/^position must be/);
  });

  // Found by the second read: the exact text in a text field or an id passed checks a number fails, and an
  // id read differently from the declared edges' (which read it as written) split prepare from migrate.
  it('only in numeric fields: an id or a title keeps JSON\'s reading', () => {
    const normalize = createNormalizer('tasks', mapping);
    const text = '{"id":1.00000000000000001,"project_id":"P1","title":1.23456789012345678}';
    const result = normalize(JSON.parse(text) as Record<string, unknown>, inexactTopLevelDecimals(text) ?? undefined);
    expect(result.ok ? 'migrated' : [result.field, result.reason]).toEqual(['title', expect.stringMatching(/^title must be/) as unknown]);
    const idOnly = '{"id":1.00000000000000001,"project_id":"P1","title":"t"}';
    const task = normalize(JSON.parse(idOnly) as Record<string, unknown>, inexactTopLevelDecimals(idOnly) ?? undefined);
    expect(task.ok && task.value.legacyId).toBe('1');
  });
});
