// Password hashes for the users file: scrypt (node:crypto), stored as `scrypt$N$r$p$salt$hash` with the
// salt and the derived key in base64. Verification is constant-time, and a login for an unknown user
// still derives a key so that timing does not tell which usernames exist.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** 2^15: about 50 ms and 32 MiB per hash on a current core. */
export const DEFAULT_SCRYPT = { N: 32_768, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function derive(password: string, salt: Buffer, keyLength: number, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must cover 128 * N * r, or node refuses the larger N values.
    scrypt(password.normalize('NFC'), salt, keyLength, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Parses a stored hash; the message says what is wrong with it (never echoing the hash). */
export function parsePasswordHash(text: string): ScryptHash {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error('must look like scrypt$N$r$p$salt$hash (make one with `taskfleet users hash-password`)');
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(N) || N < 1024 || N > 2 ** 20 || (N & (N - 1)) !== 0) throw new Error('scrypt N must be a power of two between 1024 and 1048576');
  if (!Number.isInteger(r) || r < 1 || r > 32) throw new Error('scrypt r must be between 1 and 32');
  if (!Number.isInteger(p) || p < 1 || p > 16) throw new Error('scrypt p must be between 1 and 16');
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8) throw new Error('the salt must be at least 8 bytes (base64)');
  if (key.length < 16 || key.length > 128) throw new Error('the hash must be 16 to 128 bytes (base64)');
  return { N, r, p, salt, key };
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

// A fixed hash checked against when the user is unknown: same cost as a real check, never matches a login.
const DECOY: ScryptHash = { ...DEFAULT_SCRYPT, salt: Buffer.alloc(SALT_BYTES, 7), key: Buffer.alloc(KEY_BYTES, 0) };

/** Whether `password` matches `hash`; `hash` null (unknown user) costs the same and answers false. */
export async function verifyPassword(password: string, hash: ScryptHash | null): Promise<boolean> {
  const h = hash ?? DECOY;
  const key = await derive(password, h.salt, h.key.length, h);
  return timingSafeEqual(key, h.key) && hash !== null;
}
