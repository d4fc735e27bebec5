// duplicateTopLevelKeys: the members a JSON record holds twice (JSON.parse would keep only the last).
import { describe, expect, it } from 'vitest';
import { duplicateTopLevelKeys } from '../../src/legacy/duplicate-keys.js';

const dups = (text: string) => duplicateTopLevelKeys(text, Object.keys(JSON.parse(text) as object).length);

describe('duplicateTopLevelKeys', () => {
  it('finds a name given twice, also when spelt with an escape', () => {
    expect(dups('{"id":"T1","title":"first","title":"second"}')).toEqual(['title']);
    expect(dups('{"title":"a", "\\u0074itle":"b", "x":1, "x":2}')).toEqual(['title', 'x']);
  });

  it('ignores names inside nested objects and arrays, and braces, commas and quotes inside strings', () => {
    expect(dups('{"a":{"b":1,"b":2},"c":[{"d":1},{"d":2}],"s":"\\"e\\":1, {\\"f\\":2}","t":"x,\\"s\\":"}')).toEqual([]);
    expect(dups('{}')).toEqual([]);
    expect(dups('{"a":[1,{"a":2}],"a":3}')).toEqual(['a']);
    // A string ending in a backslash (escaped): its closing quote is the next one.
    expect(dups('{"a":"x\\\\","a":"\\"","b":1}')).toEqual(['a']);
  });
});
