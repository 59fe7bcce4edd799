import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** An error that becomes an HTTP response `{"error": message}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Collects the body, rejecting with 413 as soon as it passes maxBytes (without reading the rest). */
function collect(req: Readable, maxBytes: number, tooLarge: (bytes: string) => HttpError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (settle: () => void) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      settle();
    };
    const onData = (chunk: Buffer | string) => {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      total += buf.byteLength;
      if (total > maxBytes) {
        req.pause();
        finish(() => reject(tooLarge(`over ${maxBytes}`)));
      } else {
        chunks.push(buf);
      }
    };
    const onEnd = () => finish(() => resolve(Buffer.concat(chunks)));
    const onError = (e: Error) => finish(() => reject(new HttpError(400, `could not read the request body: ${e.message}`)));
    const onClose = () => finish(() => reject(new HttpError(400, 'the request body ended early: the client closed the connection')));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** Reads and parses a JSON body of at most maxBytes; bad or oversized bodies become HttpErrors. */
export async function readJsonBody(req: Readable & Pick<IncomingMessage, 'headers'>, maxBytes: number): Promise<unknown> {
  // Connection: close, because the unread rest of an oversized body must not be parsed as a request.
  const tooLarge = (bytes: string) =>
    new HttpError(413, `request body is ${bytes} bytes; the limit is ${maxBytes}`, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(String(declared));
  const text = (await collect(req, maxBytes, tooLarge)).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(data.byteLength) });
  res.end(data);
}

/**
 * Answers a request whose handler threw: an HttpError becomes its status and message, anything else a
 * logged 500; a response already under way can only be cut off.
 */
export function sendFailure(res: ServerResponse, e: unknown, context: string, log: (line: string) => void): void {
  if (res.headersSent) {
    res.destroy();
  } else if (e instanceof HttpError) {
    sendJson(res, e.status, { error: e.message }, e.headers);
  } else {
    log(`${context} failed: ${(e as Error).stack ?? String(e)}`);
    sendJson(res, 500, { error: `internal error: ${(e as Error).message}` });
  }
}

export function sendBytes(res: ServerResponse, data: Uint8Array, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) });
  res.end(data);
}
