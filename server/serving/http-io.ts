import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from '../logger.js';

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

/**
 * Collects the body, rejecting with 413 as soon as it passes maxBytes (without reading the rest).
 * With a declared length the chunks are copied into one buffer as they come, so the body is held
 * once, not twice (chunks plus their concatenation).
 */
function collect(
  req: Readable,
  maxBytes: number,
  declared: number | undefined,
  tooLarge: (bytes: string) => HttpError,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let whole: Buffer | undefined;
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
      } else if (declared === undefined) {
        chunks.push(buf);
      } else if (total > declared) {
        req.pause();
        finish(() =>
          reject(
            new HttpError(400, `request body is longer than its content-length ${declared}`, { connection: 'close' }),
          ),
        );
      } else {
        whole ??= Buffer.allocUnsafe(declared);
        buf.copy(whole, total - buf.byteLength);
      }
    };
    const onEnd = () => finish(() => resolve(whole ? whole.subarray(0, total) : Buffer.concat(chunks)));
    const onError = (e: Error) =>
      finish(() => reject(new HttpError(400, `could not read the request body: ${e.message}`)));
    const onClose = () =>
      finish(() => reject(new HttpError(400, 'the request body ended early: the client closed the connection')));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * Reads a body of at most maxBytes; an oversized one becomes an HttpError(413), an empty one (for
 * JSON, also one of whitespace only) an HttpError(400).
 */
export async function readBodyBytes(
  req: Readable & Pick<IncomingMessage, 'headers'>,
  maxBytes: number,
  kind: 'json' | 'binary' = 'json',
): Promise<Buffer> {
  // Connection: close, because the unread rest of an oversized body must not be parsed as a request.
  const tooLarge = (bytes: string) =>
    new HttpError(413, `request body is ${bytes} bytes; the limit is ${maxBytes}`, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(String(declared));
  const bytes = await collect(
    req,
    maxBytes,
    Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined,
    tooLarge,
  );
  if (
    kind === 'binary' ? bytes.length === 0 : bytes.every((b) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09)
  ) {
    throw new HttpError(
      400,
      `request body is empty; expected ${kind === 'binary' ? 'float32 values' : 'a JSON object'}`,
    );
  }
  return bytes;
}

/** Reads and parses a JSON body of at most maxBytes; bad or oversized bodies become HttpErrors. */
export async function readJsonBody(
  req: Readable & Pick<IncomingMessage, 'headers'>,
  maxBytes: number,
): Promise<unknown> {
  const text = (await readBodyBytes(req, maxBytes)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJsonBytes(res, status, Buffer.from(JSON.stringify(body), 'utf8'), headers);
}

/** A JSON body already encoded as UTF-8. */
export function sendJsonBytes(
  res: ServerResponse,
  status: number,
  data: Uint8Array,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(data.byteLength),
  });
  res.end(data);
}

/**
 * Answers a request whose handler threw: an HttpError becomes its status and message, anything else a
 * logged 500; a response already under way can only be cut off.
 */
export function sendFailure(res: ServerResponse, e: unknown, context: string, logger: Logger): void {
  if (res.headersSent) {
    res.destroy();
  } else if (e instanceof HttpError) {
    sendJson(res, e.status, { error: e.message }, e.headers);
  } else {
    // The stack goes in the line's `err` field (pino's error serializer).
    logger.error({ err: e }, `${context} failed: ${e instanceof Error ? e.message : String(e)}`);
    sendJson(res, 500, { error: `internal error: ${(e as Error).message}` });
  }
}

export function sendBytes(res: ServerResponse, data: Uint8Array, headers: Record<string, string>): void {
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/octet-stream',
    'content-length': String(data.byteLength),
  });
  res.end(data);
}
