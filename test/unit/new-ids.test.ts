// Deterministic ids: uuidV5 must be RFC 9562 UUIDv5 (checked against the uuid package), and newId must
// never change (the same legacy record gets the same id in every run: upserts depend on it).
import { v5 as uuidv5, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { idMemo, newId, uuidV5 } from '../../src/store/new-ids.js';

// The namespace in src/store/new-ids.ts. Changing it would give every migrated row a new id.
const NAMESPACE = '6f1c2a8e-5b7d-4c1e-9a3f-7d2b8e4c6a10';
const nsBytes = (uuid: string) => Buffer.from(uuid.replace(/-/g, ''), 'hex');

const NAMES = [
  '', 'a', 'p1', 't-000001', '42', ' leading space', 'trailing space ', 'tab\tnew\nline', 'é', 'e\u0301', '中文', '😀', '👩‍👩‍👧',
  'x'.repeat(55), 'x'.repeat(56), 'x'.repeat(64), 'x'.repeat(1000), 'quote"back\\slash', '\u0000', 'Ω≈ç√∫', 'ﬁ',
];

describe('uuidV5', () => {
  it.each(NAMES)('%j: equals the uuid package\'s v5', (name) => {
    for (const ns of [NAMESPACE, uuidv5.DNS, uuidv5.URL]) {
      expect(uuidV5(name, nsBytes(ns))).toBe(uuidv5(name, ns));
    }
  });

  it('a seeded sweep of random unicode names', () => {
    let a = 99;
    const rnd = (n: number) => {
      a = (a * 1103515245 + 12345) % 2 ** 31;
      return a % n;
    };
    for (let i = 0; i < 300; i++) {
      const name = String.fromCodePoint(...Array.from({ length: rnd(20) }, () => {
        const cp = rnd(3) === 0 ? 0x1f300 + rnd(500) : rnd(0xd7ff); // astral emoji or BMP (no surrogates)
        return cp;
      }));
      expect(uuidV5(name, nsBytes(NAMESPACE))).toBe(uuidv5(name, NAMESPACE));
    }
  });

  it('gives version 5, RFC variant, lowercase', () => {
    const id = uuidV5('anything', nsBytes(NAMESPACE));
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(5);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('newId', () => {
  it('is v5(legacy id, v5(kind, taskfleet namespace)) -- stable across versions', () => {
    for (const kind of ['projects', 'phases', 'tasks'] as const) {
      for (const legacyId of ['p1', '42', '中文', '']) {
        expect(newId(kind, legacyId)).toBe(uuidv5(legacyId, uuidv5(kind, NAMESPACE)));
      }
    }
  });

  it('pinned values (a change here re-keys every migrated row)', () => {
    expect(newId('tasks', 't1')).toBe('19b97fb4-b902-5a0b-8c06-01ebbdd014d8');
    expect(newId('projects', 'p1')).toBe('9348f3e4-0224-567f-bf0d-c1382d7729f9');
  });

  it('differs per kind for the same legacy id', () => {
    const ids = ['projects', 'phases', 'tasks'].map((kind) => newId(kind as 'projects', 'same-1'));
    expect(new Set(ids).size).toBe(3);
  });

  it('is deterministic and distinguishes close ids', () => {
    expect(newId('tasks', 'abc')).toBe(newId('tasks', 'abc'));
    expect(newId('tasks', 'abc')).not.toBe(newId('tasks', 'abc '));
    expect(newId('tasks', 'é')).not.toBe(newId('tasks', 'e\u0301'));
  });
});

describe('idMemo', () => {
  it('returns newId\'s values, the same on every call', () => {
    const memo = idMemo('phases');
    for (const id of ['a', 'b', 'a', '中', 'a', '']) expect(memo(id)).toBe(newId('phases', id));
    expect(memo('x')).toBe(memo('x'));
  });

  it('is per kind', () => {
    expect(idMemo('projects')('k')).not.toBe(idMemo('tasks')('k'));
    expect(idMemo('tasks')('k')).toBe(newId('tasks', 'k'));
  });
});
