import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type Heartbeat } from '../../server/index.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { JOIN_TOKEN, tempDir } from '../e2e/helpers.js';
import { silentLogger } from '../../server/logger.js';

/**
 * The coordinator's socket.io heartbeat: socket.io's own unless a harness that hosts many clients
 * per process asks for a longer one (StartOptions.heartbeat).
 */

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** The heartbeat a client is told in the engine.io handshake. */
async function handshakeHeartbeat(heartbeat?: Heartbeat): Promise<{ pingInterval: number; pingTimeout: number }> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const config = parseCoordinatorConfig(
    { port: 0, host: '127.0.0.1', dataDir: dir.path, joinToken: JOIN_TOKEN },
    'test',
  );
  const running = await startCoordinator(config, { logger: silentLogger(), ...(heartbeat ? { heartbeat } : {}) });
  cleanup.push(() => running.close());
  const socket = io(running.url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    autoConnect: false,
  });
  cleanup.push(async () => void socket.disconnect());
  socket.connect();
  return new Promise((resolve) =>
    socket.io.engine.once('handshake', (data: { pingInterval: number; pingTimeout: number }) => resolve(data)),
  );
}

describe('socket.io heartbeat', () => {
  it("is socket.io's own by default: a ping every 25 s, 20 s to answer", async () => {
    expect(await handshakeHeartbeat()).toMatchObject({ pingInterval: 25_000, pingTimeout: 20_000 });
  });

  it('is the one asked for at start', async () => {
    expect(await handshakeHeartbeat({ pingIntervalMs: 30_000, pingTimeoutMs: 180_000 })).toMatchObject({
      pingInterval: 30_000,
      pingTimeout: 180_000,
    });
  });
});
