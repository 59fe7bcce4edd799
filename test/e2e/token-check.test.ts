import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import type { RunningCoordinator } from '../../server/app.js';
import { nearMisses } from '../server/near-miss-tokens.js';
import { ADMIN_TOKEN, startTestCoordinator, tempDir } from './helpers.js';

/**
 * The token checks through a real coordinator: POST /v1/rounds (the admin endpoint) and the
 * socket.io join, each fed the exact token and tokens that are almost it.
 */

// Non-ASCII on purpose: socket.io carries the join token as JSON, so any string can arrive.
const UNICODE_JOIN_TOKEN = 'join-Tök3n-✓-секрет';

let server: RunningCoordinator;
let removeDir: () => Promise<void>;

beforeAll(async () => {
  const dir = await tempDir();
  removeDir = dir.remove;
  server = await startTestCoordinator(dir.path, { joinToken: UNICODE_JOIN_TOKEN });
});

afterAll(async () => {
  await server?.close();
  await removeDir?.();
});

/** Resolves when the join is admitted, rejects with the coordinator's refusal. */
async function join(token: string): Promise<void> {
  const socket: Socket = io(server.url, {
    auth: { token, protocolVersion: PROTOCOL_VERSION },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
  } finally {
    socket.disconnect();
  }
}

function queueRound(authorization: string): Promise<Response> {
  return fetch(`${server.url}/v1/rounds`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: '{"rounds":1}',
  });
}

describe('token checks on a running coordinator', () => {
  it('the socket.io join admits the exact token and refuses every near miss', async () => {
    const unicodeLookalikes: [string, string][] = [
      ['decomposed ö', UNICODE_JOIN_TOKEN.normalize('NFD')],
      ['Latin c for Cyrillic с', UNICODE_JOIN_TOKEN.replace('с', 'c')],
    ];
    for (const [what, token] of [...nearMisses(UNICODE_JOIN_TOKEN), ...unicodeLookalikes]) {
      expect(token, what).not.toBe(UNICODE_JOIN_TOKEN);
      const expected =
        token === ''
          ? { message: expect.stringContaining('a join token is required') }
          : { message: 'wrong join token' };
      await expect(join(token), what).rejects.toMatchObject({ ...expected, data: { code: 'unauthorized' } });
    }
    expect(server.coordinator.connectedClients()).toEqual([]);
    await expect(join(UNICODE_JOIN_TOKEN)).resolves.toBeUndefined();
  });

  it('POST /v1/rounds queues with the exact admin token and refuses every near miss', async () => {
    // Header values are bytes, so fetch cannot send a NUL; trailing spaces are not part of a bearer token.
    const sendable = nearMisses(ADMIN_TOKEN).filter(([, t]) => !t.includes('\u0000') && t.trimEnd() !== ADMIN_TOKEN);
    expect(sendable.length).toBeGreaterThanOrEqual(9);
    for (const [what, token] of sendable) {
      const res = await queueRound(`Bearer ${token}`);
      const body = (await res.json()) as { error: string };
      if (token === '') {
        expect(res.status, what).toBe(401);
        expect(body.error).toMatch(/malformed Authorization header/);
      } else {
        expect(res.status, what).toBe(403);
        expect(body).toEqual({ error: 'wrong admin token' });
      }
    }
    expect(server.coordinator.pendingRounds()).toBe(0);
    const ok = await queueRound(`Bearer ${ADMIN_TOKEN}`);
    expect(ok.status).toBe(202);
    expect(server.coordinator.pendingRounds()).toBe(1);
  });
});
