import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free TCP port on 127.0.0.1: bound to port 0, read, released. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface TestRedis {
  port: number;
  /** redis://127.0.0.1:PORT */
  url: string;
  /** Kills the server (SIGKILL: nothing of it is worth keeping) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * A real Debian `redis-server` on a free loopback port, without persistence, for one test file.
 * Resolves once it answers PING; its output is kept to explain a failed start.
 */
export async function startRedis(timeoutMs = 10_000): Promise<TestRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(new Error(`cannot run redis-server (apt-get install redis-server): ${e.message}`)),
    ),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const url = `redis://127.0.0.1:${port}`;
  try {
    await Promise.race([spawnFailed, waitForPing(port, timeoutMs, () => output)]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, url, stop };
}

async function waitForPing(port: number, timeoutMs: number, output: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // Not listening yet.
    } finally {
      probe.disconnect();
    }
    if (Date.now() > end)
      throw new Error(`redis-server on port ${port} did not answer PING in ${timeoutMs} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
