import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './serving/http-io.js';

/** Constant-time comparison (of digests, so lengths leak nothing either). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A random token for a coordinator started without one. */
export function generateToken(): string {
  return randomBytes(18).toString('base64url');
}

/** Who is asking: anyone, or the holder of the admin token. */
export type Access = 'public' | 'admin';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="fedserve"' };

/** The token of an `Authorization: Bearer <token>` header; 401 when malformed. */
function bearerToken(header: string): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new HttpError(401, 'malformed Authorization header: expected "Bearer <token>"', CHALLENGE);
  return match[1];
}

/** Throws 401 without a bearer token and 403 with a wrong one. */
export function requireAdmin(req: IncomingMessage, adminToken: string): void {
  const header = req.headers.authorization;
  if (!header)
    throw new HttpError(401, 'this endpoint needs the admin token: send "Authorization: Bearer <token>"', CHALLENGE);
  if (!tokenMatches(bearerToken(header), adminToken)) throw new HttpError(403, 'wrong admin token');
}

/**
 * For endpoints with a public and an admin view: public without an Authorization header, admin
 * with the right token. A credential that is offered but malformed (401) or wrong (403) is refused
 * rather than quietly downgraded, so a mistyped token is noticed.
 */
export function readAccess(req: IncomingMessage, adminToken: string): Access {
  if (req.headers.authorization === undefined) return 'public';
  requireAdmin(req, adminToken);
  return 'admin';
}
