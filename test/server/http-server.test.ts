import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, HttpTimeoutsSchema } from '../../server/http-server.js';

let server: Server | undefined;

afterEach(async () => {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((resolve) => s.close(resolve));
});

/** A raw connection: what it receives, and when it is closed. */
async function rawClient(
  timeouts: { headersTimeoutMs: number; requestTimeoutMs: number; idleTimeoutMs: number },
  handler?: () => void,
) {
  server = createHttpServer((req, res) => {
    if (handler) {
      handler();
      return;
    }
    req.resume();
    req.on('end', () => res.end('ok'));
  }, timeouts);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const socket: Socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  let received = '';
  socket.on('data', (c) => (received += c.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => {
    const start = Date.now();
    socket.on('close', () => resolve(Date.now() - start));
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed, received: () => received };
}

describe('HTTP server time limits', () => {
  it('closes a connection whose headers trickle in too slowly', async () => {
    const c = await rawClient({ headersTimeoutMs: 200, requestTimeoutMs: 10_000, idleTimeoutMs: 10_000 });
    c.socket.write('POST /v1/models/mnist:predict HTTP/1.1\r\nHost: x\r\n');
    const timer = setInterval(() => c.socket.write('X-Slow: 1\r\n'), 50);
    const ms = await c.closed;
    clearInterval(timer);
    expect(ms).toBeLessThan(5_000);
    expect(c.received()).toMatch(
      /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*\r\n\r\n\{"error":"the request did not arrive in time"\}$/,
    );
  });

  it('answers a malformed request with a JSON 400', async () => {
    const c = await rawClient({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, idleTimeoutMs: 2_000 });
    c.socket.write('{"a":1}GET / HTTP/1.1\r\n\r\n');
    await c.closed;
    expect(c.received()).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\nContent-Type: application\/json[\s\S]*\{"error":"malformed HTTP request \(HPE_INVALID_METHOD\)"\}$/,
    );
  });

  it('answers 408 to a request whose body does not arrive in time', async () => {
    const c = await rawClient({ headersTimeoutMs: 200, requestTimeoutMs: 400, idleTimeoutMs: 10_000 });
    c.socket.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"instances": [');
    const timer = setInterval(() => c.socket.write('1,'), 50);
    const ms = await c.closed;
    clearInterval(timer);
    expect(ms).toBeLessThan(5_000);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408[\s\S]*"error"/);
  });

  it('closes a connection idle for longer than the idle limit', async () => {
    // A handler that never answers: no traffic either way.
    const c = await rawClient({ headersTimeoutMs: 200, requestTimeoutMs: 400, idleTimeoutMs: 300 }, () => undefined);
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await c.closed).toBeLessThan(5_000);
  });

  it('serves a request that arrives in time', async () => {
    const c = await rawClient({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, idleTimeoutMs: 2_000 });
    c.socket.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 200[\s\S]*ok$/);
  });

  it('has limits by default and refuses inconsistent ones', () => {
    expect(HttpTimeoutsSchema.parse({})).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
    });
    expect(HttpTimeoutsSchema.safeParse({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }).success).toBe(false);
  });
});
