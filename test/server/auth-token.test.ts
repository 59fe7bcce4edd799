import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { generateToken, requireAdmin, tokenMatches } from '../../server/auth.js';
import { HttpError } from '../../server/serving/http-io.js';
import { nearMisses } from './near-miss-tokens.js';

const TOKEN = 'admin-Tök3n-✓-секрет';

function request(authorization?: string): IncomingMessage {
  return { headers: authorization === undefined ? {} : { authorization } } as IncomingMessage;
}

function refusal(authorization: string | undefined, token = TOKEN): HttpError {
  try {
    requireAdmin(request(authorization), token);
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error(`requireAdmin accepted ${JSON.stringify(authorization)}`);
}

describe('tokenMatches', () => {
  it('accepts the exact token', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, TOKEN.slice(0))).toBe(true);
  });

  it.each(nearMisses(TOKEN))('refuses a near miss: %s', (_what, given) => {
    expect(tokenMatches(given, TOKEN)).toBe(false);
  });

  it('refuses tokens that look alike in Unicode but are other code points', () => {
    const composed = 'café-admin-token';
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    expect(tokenMatches(decomposed, composed)).toBe(false);
    // Cyrillic 'а' (U+0430) for Latin 'a'.
    expect(tokenMatches('\u0430dmin-token-123', 'admin-token-123')).toBe(false);
    // Distinct characters whose UTF-16 code units would collide if truncated to a byte.
    expect(tokenMatches('\u0141dmin-token', 'Admin-token')).toBe(false);
  });

  it('an empty expected token matches only the empty string', () => {
    expect(tokenMatches('', '')).toBe(true);
    expect(tokenMatches('x', '')).toBe(false);
  });
});

describe('generateToken', () => {
  it('gives 24 base64url characters (18 random bytes), different each time', () => {
    const tokens = new Set(Array.from({ length: 20 }, () => generateToken()));
    expect(tokens.size).toBe(20);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});

describe('requireAdmin', () => {
  it('accepts the bearer token, in any case of "Bearer", with extra spaces around the token', () => {
    for (const header of [
      `Bearer ${TOKEN}`,
      `bearer ${TOKEN}`,
      `BEARER   ${TOKEN}`,
      `Bearer\t${TOKEN}`,
      `Bearer ${TOKEN}  `,
    ]) {
      expect(() => requireAdmin(request(header), TOKEN), header).not.toThrow();
    }
  });

  it('401 with a Bearer challenge when the header is missing or empty', () => {
    for (const header of [undefined, '']) {
      const e = refusal(header);
      expect(e.status).toBe(401);
      expect(e.message).toBe('this endpoint needs the admin token: send "Authorization: Bearer <token>"');
      expect(e.headers).toEqual({ 'www-authenticate': 'Bearer realm="fedserve"' });
    }
  });

  it('401 for a header that is not exactly "Bearer <token>"', () => {
    for (const header of [
      TOKEN,
      `Basic ${TOKEN}`,
      'Bearer',
      'Bearer ',
      `Bearer${TOKEN}`,
      `xBearer ${TOKEN}`,
      ` Bearer ${TOKEN}`,
      `Bearer ${TOKEN} extra`,
      `Bearer ${TOKEN},${TOKEN} x`,
    ]) {
      const e = refusal(header);
      expect(e.status, header).toBe(401);
      expect(e.message).toBe('malformed Authorization header: expected "Bearer <token>"');
      expect(e.headers).toEqual({ 'www-authenticate': 'Bearer realm="fedserve"' });
    }
  });

  it.each(nearMisses(TOKEN).filter(([, t]) => /^\S+$/.test(t)))('403 for a near-miss token: %s', (_what, given) => {
    const e = refusal(`Bearer ${given}`);
    expect(e.status).toBe(403);
    expect(e.message).toBe('wrong admin token');
    expect(e.headers).toEqual({});
  });
});
