import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { readAccess, requireAdmin } from '../../server/auth.js';
import { HttpError } from '../../server/serving/http-io.js';

/** The admin token check behind the admin endpoints and the admin view of `GET /v1/rounds`. */

const TOKEN = 'the-admin-token';
const request = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

function refusal(authorization: string | undefined): { status: number; message: string } | 'allowed' {
  try {
    readAccess(request(authorization), TOKEN);
    return 'allowed';
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return { status: e.status, message: e.message };
  }
}

describe('readAccess', () => {
  it('is public without an Authorization header and admin with the right bearer token', () => {
    expect(readAccess(request(), TOKEN)).toBe('public');
    expect(readAccess(request(`Bearer ${TOKEN}`), TOKEN)).toBe('admin');
    expect(readAccess(request(`bearer   ${TOKEN}  `), TOKEN)).toBe('admin');
  });

  it('refuses an offered token that is wrong, a prefix, longer, empty or not a bearer token', () => {
    for (const wrong of [
      `Bearer wrong`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN.slice(0, 1)}`,
      `Bearer ${TOKEN}x`,
    ]) {
      expect(refusal(wrong)).toEqual({ status: 403, message: 'wrong admin token' });
    }
    for (const malformed of ['', 'Bearer', 'Bearer ', `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`, TOKEN]) {
      expect(refusal(malformed)).toMatchObject({ status: 401 });
    }
  });

  it('matches requireAdmin on every offered credential', () => {
    expect(() => requireAdmin(request(), TOKEN)).toThrow(/needs the admin token/);
    expect(() => requireAdmin(request(`Bearer ${TOKEN}`), TOKEN)).not.toThrow();
    expect(() => requireAdmin(request('Bearer nope'), TOKEN)).toThrow(/wrong admin token/);
  });
});
