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

/** Throws 401 without a bearer token and 403 with a wrong one. */
export function requireAdmin(req: IncomingMessage, adminToken: string): void {
  const header = req.headers.authorization;
  const challenge = { 'www-authenticate': 'Bearer realm="fedserve"' };
  if (!header) throw new HttpError(401, 'this endpoint needs the admin token: send "Authorization: Bearer <token>"', challenge);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new HttpError(401, 'malformed Authorization header: expected "Bearer <token>"', challenge);
  if (!tokenMatches(match[1], adminToken)) throw new HttpError(403, 'wrong admin token');
}
