// storableText: what the ledger stores of text from a bad record (Postgres text holds no NUL and no lone surrogate).
import { describe, expect, it } from 'vitest';
import { storableText } from '../../src/ledger/storable-text.js';

describe('storableText', () => {
  it('shows NUL as \\u0000 and a lone surrogate as U+FFFD; leaves other text alone', () => {
    expect(storableText('p\u00001\u0000')).toBe('p\\u00001\\u0000');
    expect(storableText('a\uD800b')).toBe('a\uFFFDb');
    expect(storableText('ünï ✓ 😀 \\u0000')).toBe('ünï ✓ 😀 \\u0000');
    expect(storableText(null)).toBeNull();
  });
});
