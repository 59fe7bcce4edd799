import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import type { TlsCredentials } from './tls.js';

/**
 * The coordinator's HTTP server with time limits, so slow or idle connections cannot pile up:
 * request headers must arrive within headersTimeoutMs, the whole request (headers and body)
 * within requestTimeoutMs (a late one gets 408), and a connection with no traffic either way for
 * idleTimeoutMs is closed. socket.io's long-polling requests wait at most 25 s for data, well
 * inside the idle limit; WebSocket connections leave the HTTP server's timers once upgraded.
 */
export const HttpTimeoutsSchema = z
  .strictObject({
    headersTimeoutMs: z.int().min(1).max(3_600_000).default(10_000),
    requestTimeoutMs: z.int().min(1).max(3_600_000).default(60_000),
    idleTimeoutMs: z.int().min(1).max(3_600_000).default(60_000),
  })
  .refine((t) => t.headersTimeoutMs <= t.requestTimeoutMs, {
    error: 'headersTimeoutMs cannot exceed requestTimeoutMs',
  });
export type HttpTimeouts = z.output<typeof HttpTimeoutsSchema>;

/** With `tls` the server speaks https (and socket.io wss) on the same port, with the same handlers and limits. */
export function createHttpServer(listener: RequestListener, timeouts: HttpTimeouts, tls?: TlsCredentials): Server {
  const options = {
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // How often Node checks the two limits above; its default (30 s) would let them overrun that much.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(timeouts.headersTimeoutMs / 4))),
  };
  const server: Server = tls
    ? createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, listener)
    : createServer(options, listener);
  server.setTimeout(timeouts.idleTimeoutMs);
  server.on('clientError', answerClientError);
  return server;
}

/** Node's own answers to unparsable or late requests are plain text; these are {"error": ...} like every other. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'the request did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
        : [400, 'Bad Request', `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
