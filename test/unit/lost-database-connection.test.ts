import { describe, expect, it } from 'vitest';
import { lostDatabaseConnection } from '../../src/store/pool.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('lostDatabaseConnection', () => {
  it('is true for a session the server ended or a connection that broke, false for a failed statement', () => {
    expect(lostDatabaseConnection(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(lostDatabaseConnection(pgError('08006'))).toBe(true);
    expect(lostDatabaseConnection(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(lostDatabaseConnection(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
    expect(lostDatabaseConnection(pgError('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(lostDatabaseConnection(pgError('57014', 'canceling statement due to statement timeout'))).toBe(false);
    expect(lostDatabaseConnection(null)).toBe(false);
  });
});
