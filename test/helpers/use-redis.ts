import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startRedis, type TestRedis } from './redis-server.js';

// Not in redis-server.ts: the benches and the chaos script import that module outside vitest.

export interface UsedRedis {
  /** redis://127.0.0.1:PORT of this file's (or describe block's) own server. */
  readonly url: string;
  /** One connection shared by the tests, opened on first use. */
  readonly client: Redis;
  /** A new connection of its own (a subscriber, a second publisher). */
  readonly connect: () => Redis;
}

/**
 * Registers hooks that start a `redis-server` (startRedis) before the tests of the calling file or
 * describe block and stop it after them, and closes every connection handed out first.
 * Call it before the file's own hooks: its beforeAll then runs first and its afterAll last (vitest
 * runs after-hooks in reverse), so processes the file starts on this server are gone before it is.
 * `flushBeforeEach` empties the server before each test, for files whose tests share key names.
 */
export function useRedis(options: { flushBeforeEach?: boolean } = {}): UsedRedis {
  let server: TestRedis | undefined;
  let shared: Redis | undefined;
  const connections: Redis[] = [];
  const running = (): TestRedis => {
    if (!server)
      throw new Error("useRedis: the server runs only inside the tests and hooks after useRedis's beforeAll");
    return server;
  };
  const connect = (): Redis => {
    const connection = new Redis(running().url);
    connections.push(connection);
    return connection;
  };
  const client = (): Redis => (shared ??= connect());
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const connection of connections.splice(0)) connection.disconnect();
    shared = undefined;
    await server?.stop();
    server = undefined;
  });
  if (options.flushBeforeEach)
    beforeEach(async () => {
      await client().flushall();
    });
  return {
    get url() {
      return running().url;
    },
    get client() {
      return client();
    },
    connect,
  };
}
