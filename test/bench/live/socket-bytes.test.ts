import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerSocketBytes } from '../../../bench/live/socket-bytes.js';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.reverse()) step();
  cleanup = [];
});

/** Server-side ends of the connections, in order. */
const accepted: Socket[] = [];

/** A server that answers every chunk with `reply` bytes. */
async function echoServer(reply: number): Promise<Server> {
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on('data', () => socket.write(Buffer.alloc(reply)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => server.close());
  return server;
}

/** Sends `bytes` and waits for `expect` bytes back. */
function exchange(socket: Socket, bytes: number, expectBack: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got >= expectBack) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(Buffer.alloc(bytes));
  });
}

async function connect(server: Server): Promise<Socket> {
  const socket = createConnection((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  cleanup.push(() => socket.destroy());
  return socket;
}

describe('ServerSocketBytes', () => {
  it('counts what accepted connections read and wrote since mark(), closed ones included', async () => {
    const meter = new ServerSocketBytes();
    cleanup.push(() => meter.close());
    const server = await echoServer(300);
    const a = await connect(server);
    await exchange(a, 100, 300);
    meter.mark();
    expect(meter.since()).toEqual({ read: 0, written: 0 });
    const b = await connect(server);
    await exchange(a, 1000, 300);
    await exchange(b, 50, 300);
    const serverSide = accepted.at(-1)!;
    const closed = new Promise((resolve) => serverSide.once('close', resolve));
    b.destroy();
    await closed;
    expect(meter.since()).toEqual({ read: 1050, written: 600 });
  });

  it('sees nothing once closed', async () => {
    const meter = new ServerSocketBytes();
    meter.close();
    meter.mark();
    const server = await echoServer(10);
    await exchange(await connect(server), 10, 10);
    expect(meter.since()).toEqual({ read: 0, written: 0 });
  });
});
