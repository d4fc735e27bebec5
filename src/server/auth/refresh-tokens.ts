// Refresh tokens, kept in ops.refresh_tokens as SHA-256 only. A login starts a family; each refresh
// marks the presented token rotated and issues its successor in the same family. Presenting a rotated
// token again means it was copied: the whole family is revoked, so the thief's and the user's newest
// tokens both stop working and the user must log in again.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { inTransaction, type Pool, type PoolClient } from '../../store/pool.js';

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

const newToken = (): string => randomBytes(32).toString('base64url');

export type RefreshOutcome =
  | { ok: true; username: string; refreshToken: string; familyId: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'reused'; username: string | null; familyId: string | null };

async function insertToken(db: Pool | PoolClient, familyId: string, username: string, ttlSeconds: number): Promise<{ id: number; token: string }> {
  const token = newToken();
  const { rows: [row] } = await db.query<{ id: string }>(
    `INSERT INTO ops.refresh_tokens (token_hash, family_id, username, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id`,
    [sha256Hex(token), familyId, username, ttlSeconds]);
  return { id: Number(row!.id), token };
}

/** A new family for a fresh login. */
export async function issueRefreshToken(db: Pool, username: string, ttlSeconds: number): Promise<{ refreshToken: string; familyId: string }> {
  const familyId = randomUUID();
  const { token } = await insertToken(db, familyId, username, ttlSeconds);
  return { refreshToken: token, familyId };
}

/**
 * Serialises everything done to one family (rotation, revocation): a revocation must see a successor a
 * rotation is inserting at that moment, or the newest token would outlive "revoke the whole login".
 */
async function lockFamily(client: PoolClient, familyId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('taskfleet.refresh.' || $1, 0))`, [familyId]);
}

async function revokeLockedFamily(client: PoolClient, familyId: string, reason: string): Promise<number> {
  const { rowCount } = await client.query(
    'UPDATE ops.refresh_tokens SET revoked_at = now(), revoked_reason = $2 WHERE family_id = $1 AND revoked_at IS NULL', [familyId, reason]);
  return rowCount ?? 0;
}

export async function revokeFamily(db: Pool, familyId: string, reason: string): Promise<number> {
  return inTransaction(db, async (client) => {
    await lockFamily(client, familyId);
    return revokeLockedFamily(client, familyId, reason);
  });
}

/**
 * Exchanges a refresh token for its successor. The row is locked, so two concurrent refreshes with one
 * token cannot both succeed: the second sees it rotated and revokes the family.
 */
export async function rotateRefreshToken(db: Pool, token: string, ttlSeconds: number): Promise<RefreshOutcome> {
  return inTransaction(db, async (client) => {
    const { rows: [found] } = await client.query<{ family_id: string }>('SELECT family_id FROM ops.refresh_tokens WHERE token_hash = $1', [sha256Hex(token)]);
    if (!found) return { ok: false, reason: 'unknown', username: null, familyId: null };
    await lockFamily(client, found.family_id);
    // Read again under the family's lock: a concurrent rotation or revocation has committed by now.
    const { rows: [row] } = await client.query<{ id: string; family_id: string; username: string; expired: boolean; rotated_at: Date | null; revoked_at: Date | null }>(
      `SELECT id, family_id, username, expires_at <= now() AS expired, rotated_at, revoked_at
         FROM ops.refresh_tokens WHERE token_hash = $1 FOR UPDATE`, [sha256Hex(token)]);
    if (!row) return { ok: false, reason: 'unknown', username: null, familyId: null };
    const failed = (reason: 'expired' | 'revoked' | 'reused') => ({ ok: false as const, reason, username: row.username, familyId: row.family_id });
    if (row.revoked_at) return failed('revoked');
    if (row.rotated_at) {
      await revokeLockedFamily(client, row.family_id, 'reuse of a rotated refresh token');
      return failed('reused');
    }
    if (row.expired) return failed('expired');
    const next = await insertToken(client, row.family_id, row.username, ttlSeconds);
    await client.query('UPDATE ops.refresh_tokens SET rotated_at = now(), replaced_by = $2 WHERE id = $1', [row.id, next.id]);
    return { ok: true, username: row.username, refreshToken: next.token, familyId: row.family_id };
  });
}

/** The family a token belongs to (logout revokes it), or null. */
export async function familyOf(db: Pool, token: string): Promise<string | null> {
  const { rows: [row] } = await db.query<{ family_id: string }>('SELECT family_id FROM ops.refresh_tokens WHERE token_hash = $1', [sha256Hex(token)]);
  return row?.family_id ?? null;
}
