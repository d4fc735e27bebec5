import { describe, expect, it } from 'vitest';
import { counted } from '../../src/counted.js';

describe('counted', () => {
  it('says one in the singular, and zero and many in the plural', () => {
    expect(counted(1, 'record')).toBe('1 record');
    expect(counted(0, 'record')).toBe('0 records');
    expect(counted(2, 'record was', 'records were')).toBe('2 records were');
    expect(counted(1, 'record was', 'records were')).toBe('1 record was');
  });
});
