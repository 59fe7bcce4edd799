import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../shared/engine/backend.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { identityKeyToText } from '../../shared/protocol/secagg-messages.js';
import { generateIdentity } from '../../shared/secagg/index.js';
import { JOIN_TOKEN, startClient, startTestCoordinator, tempDir } from './helpers.js';

/** Without secure aggregation too, a join-token holder cannot take over a connected client's name. */

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

function joinAs(
  url: string,
  auth: Record<string, unknown>,
): Promise<{ connected: true } | { connected: false; code?: string; message: string }> {
  const socket: Socket = io(url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, ...auth },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.disconnect();
      resolve({ connected: true });
    });
    socket.once('connect_error', (e: Error & { data?: { code?: string } }) =>
      resolve({ connected: false, code: e.data?.code, message: e.message }),
    );
  });
}

describe('client names in a plaintext federation', () => {
  it('are bound to the identity key they joined with: another key, or none, is refused and the client stays', async () => {
    const server = await startTestCoordinator(`${dir.path}/data`);
    try {
      const alice = startClient(server.url, 'mnist:0/40', 'alice');
      await expect.poll(() => server.coordinator.connectedClients().includes('alice'), { timeout: 20_000 }).toBe(true);
      const otherKey = await joinAs(server.url, {
        name: 'alice',
        identityKey: identityKeyToText(generateIdentity().publicKey),
      });
      expect(otherKey).toMatchObject({
        connected: false,
        code: 'unauthorized',
        message: expect.stringMatching(/^client name 'alice' is registered with another identity key/),
      });
      const noKey = await joinAs(server.url, { name: 'alice' });
      expect(noKey).toEqual({
        connected: false,
        code: 'unauthorized',
        message: "client name 'alice' is bound to an identity key; a join under it must present that key",
      });
      // The real alice was never evicted, and keyless clients under fresh names still join.
      expect(alice.lines.join('\n')).not.toMatch(/replaced|stopping/);
      expect(server.coordinator.connectedClients()).toContain('alice');
      expect(await joinAs(server.url, { name: 'carol' })).toEqual({ connected: true });
      alice.client.stop();
      await alice.done.catch(() => undefined);
    } finally {
      await server.close();
    }
  });
});
