// Access tokens: short-lived HS256 JWTs (jose) naming the user and role. Pinned algorithm, issuer and
// audience, so a token of another system signed with the same secret, or an `alg: none` token, fails.
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Principal, Role } from '../server-deps.js';
import { ROLES } from './users-file.js';

export const TOKEN_ISSUER = 'taskfleet';
export const TOKEN_AUDIENCE = 'taskfleet-server';

export async function signAccessToken(principal: Principal, secret: Uint8Array, ttlSeconds: number): Promise<string> {
  return new SignJWT({ role: principal.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(principal.username)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(secret);
}

/** Why a token was not accepted, in words the client can act on. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

export async function verifyAccessToken(token: string, secret: Uint8Array): Promise<Principal> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, requiredClaims: ['sub', 'exp'] });
    const role = payload.role;
    if (typeof payload.sub !== 'string' || !ROLES.includes(role as Role)) throw new InvalidTokenError('the access token has no valid subject or role');
    return { username: payload.sub, role: role as Role };
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new InvalidTokenError('the access token has expired: get a new one with POST /auth/refresh or log in again', { cause: err });
    throw new InvalidTokenError('the access token is not valid', { cause: err });
  }
}
