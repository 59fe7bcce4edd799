import { writeFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { ClientCredentials } from '../../server/client-credentials.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { ADMIN_TOKEN, JOIN_TOKEN, startTestCoordinator, tempDir, coordinatorSuite } from '../e2e/helpers.js';
import { nearMisses } from './near-miss-tokens.js';

/**
 * Per-client join credentials (the sybil defence): each token admits only its own name, the shared
 * join token is refused, and a name has one live connection. Checked on a coordinator over
 * socket.io on 127.0.0.1, and the token file's checks on their own.
 */

const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-abcdefghijkl' };
const cleanup = coordinatorSuite();

async function tokensFile(content: unknown): Promise<string> {
  const dir = await tempDir();
  cleanup.push(dir.remove);
  const file = joinPath(dir.path, 'client-tokens.json');
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Resolves with the connected socket when the join is admitted, rejects with the coordinator's refusal. */
async function join(url: string, auth: Record<string, unknown>): Promise<Socket> {
  const socket: Socket = io(url, {
    auth: { protocolVersion: PROTOCOL_VERSION, ...auth },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(async () => {
    socket.disconnect();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

describe('per-client join credentials', () => {
  it('a token admits only its own name; the shared token, no name and near misses are refused', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const server = await startTestCoordinator(dir.path, {
      joinToken: undefined,
      clientTokensFile: await tokensFile(TOKENS),
    });
    cleanup.push(() => server.close());
    expect(server.logs.join('\n')).toContain('clients join with per-client tokens (2 in ');

    await join(server.url, { token: TOKENS.alice, name: 'alice' });
    await join(server.url, { token: TOKENS.bob, name: 'bob' });
    const refused = { data: { code: 'unauthorized' } };
    // Alice's token cannot join as Bob, nor as a new name: one credential, one client.
    await expect(join(server.url, { token: TOKENS.alice, name: 'bob' })).rejects.toMatchObject({
      ...refused,
      message: "wrong token for client 'bob' (each per-client token admits only its own name)",
    });
    await expect(join(server.url, { token: TOKENS.alice, name: 'alice-2' })).rejects.toMatchObject(refused);
    await expect(join(server.url, { token: TOKENS.alice })).rejects.toMatchObject({
      ...refused,
      message: expect.stringContaining('join with the name your token was issued for'),
    });
    await expect(join(server.url, { token: server.joinToken, name: 'alice' })).rejects.toMatchObject(refused);
    for (const [what, token] of nearMisses(TOKENS.alice).filter(([, t]) => t !== '')) {
      await expect(join(server.url, { token, name: 'alice' }), what).rejects.toMatchObject(refused);
    }
    // A second connection with Alice's credential replaces the first: never two of her at once.
    await join(server.url, { token: TOKENS.alice, name: 'alice' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.coordinator.connectedClients().sort()).toEqual(['alice', 'bob']);
  });

  it('shared-token mode lets one holder join under any number of names (not sybil-resistant)', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const server = await startTestCoordinator(dir.path);
    cleanup.push(() => server.close());
    for (const name of ['sybil-1', 'sybil-2', 'sybil-3']) await join(server.url, { token: JOIN_TOKEN, name });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.coordinator.connectedClients()).toHaveLength(3);
  });

  it('refuses a config with both a shared join token and per-client tokens', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    await expect(
      startTestCoordinator(dir.path, {
        joinToken: JOIN_TOKEN,
        adminToken: ADMIN_TOKEN,
        clientTokensFile: await tokensFile(TOKENS),
      }),
    ).rejects.toThrow(/give clientTokensFile \(--client-tokens-file\) or a shared joinToken, not both/);
  });

  it('refuses a tokens file that is not JSON, names nobody, has a short token, or gives two names one token', async () => {
    await expect(async () => ClientCredentials.load(await tokensFile('alice: x'))).rejects.toThrow(
      /client tokens file .* cannot be read as JSON/,
    );
    await expect(async () => ClientCredentials.load(await tokensFile({}))).rejects.toThrow(
      /is malformed: .*it names no client/s,
    );
    await expect(async () => ClientCredentials.load(await tokensFile({ alice: 'short' }))).rejects.toThrow(
      /at least 16 characters/,
    );
    await expect(async () =>
      ClientCredentials.load(await tokensFile({ 'bad name': 'alice-token-0123456789' })),
    ).rejects.toThrow(/client names use letters/);
    await expect(async () =>
      ClientCredentials.load(await tokensFile({ alice: TOKENS.alice, mallory: TOKENS.alice })),
    ).rejects.toThrow(/'alice' and 'mallory' share a token; give every client its own/);
  });
});
