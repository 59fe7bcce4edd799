import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { silentLogger, type Logger } from '../logger.js';
import { HttpError, sendFailure } from '../serving/http-io.js';
import { defaultWebDir, loadWebBundle, type WebManifest } from './bundle.js';
import { MNIST_SHARD_PATH, mnistShardBytes } from './mnist-shards.js';
import { errorMessage } from '../../shared/error-message.js';

export interface WebOptions {
  /** Where the built bundle lives; default dist/web under the package root. */
  dir?: string;
  /** Build the bundle into `dir` when missing or stale; default: only when running from the sources (a checkout). */
  build?: boolean;
  /** Where a bundle failure and unexpected (500) errors are logged; default nowhere. */
  logger?: Logger;
}

/** Serves one request if it is for the web UI; resolves false for any other path. */
export type WebHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const PAGES: Record<string, string> = { '/': 'dashboard.html', '/client': 'client.html' };
const WASM_PREFIX = '/web/tfjs-wasm/';
const WASM_BINARIES = new Set([
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
]);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * Pages may talk only to this origin ('self' covers its WebSocket too), so even a compromised
 * dependency in the page cannot post local data elsewhere. Wasm compilation needs
 * 'wasm-unsafe-eval'; Chart.js sets inline styles on its canvas.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

/**
 * Scripts started as Web Workers. A worker takes its policy from its own script's response, and these
 * hold the page's local data: the same policy keeps them talking only to this origin.
 */
const WORKER_SCRIPTS = new Set(['training-worker.js']);

function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/**
 * Sends a file, or 304 when the browser's copy is current (`no-cache` makes it ask each time, so
 * a rebuilt bundle is never stale). `gzipped` says a `.gz` copy exists, for browsers that accept gzip.
 */
async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headers: Record<string, string>,
  gzipped = false,
): Promise<void> {
  const gzip = gzipped && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const file = gzip ? `${path}.gz` : path;
  const info = await stat(file);
  const modified = new Date(Math.floor(info.mtimeMs / 1000) * 1000);
  const common = {
    'cache-control': 'no-cache',
    'last-modified': modified.toUTCString(),
    'x-content-type-options': 'nosniff',
    ...(gzipped ? { vary: 'accept-encoding' } : {}),
    ...headers,
  };
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  if (Number.isFinite(since) && modified.getTime() <= since) return void res.writeHead(304, common).end();
  res.writeHead(200, {
    ...common,
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'content-length': String(info.size),
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  if (req.method === 'HEAD') return void res.end();
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on('error', reject).pipe(res).on('finish', resolve).on('error', reject);
  });
}

function sendBinary(req: IncomingMessage, res: ServerResponse, body: Uint8Array): void {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(body.byteLength),
    'cache-control': 'public, max-age=3600',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The web UI's routes: the dashboard at `/`, the browser client at `/client`, the bundle under
 * `/web/`, the tfjs wasm binaries under `/web/tfjs-wasm/` and demo MNIST shards under
 * `/web/data/mnist/<i>/<n>`. Errors are `{"error": ...}` like the REST API's.
 */
export function createWebHandler(opts: WebOptions = {}): WebHandler {
  const dir = opts.dir ?? defaultWebDir();
  const logger = opts.logger ?? silentLogger();
  const wasm = wasmDir();
  let bundle: Promise<WebManifest> | undefined;
  // Loaded (or built) once per process; a failure is retried on the next request.
  const ready = () => {
    if (!bundle) {
      bundle = loadWebBundle(dir, { ...(opts.build !== undefined ? { build: opts.build } : {}), logger }).catch(
        (e: unknown) => {
          bundle = undefined;
          logger.error(`web UI unavailable: ${errorMessage(e)}`);
          throw new HttpError(503, `web UI unavailable: ${errorMessage(e)}`);
        },
      );
    }
    return bundle;
  };

  const route = async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    const page = PAGES[pathname];
    const shardMatch = MNIST_SHARD_PATH.exec(pathname);
    if (page === undefined && !pathname.startsWith('/web/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, `${req.method} is not allowed here; use GET`, { allow: 'GET, HEAD' });
    }
    if (page !== undefined) {
      const manifest = await ready();
      await sendFile(req, res, join(dir, page), PAGE_HEADERS, manifest.gzipped.includes(page));
    } else if (pathname.startsWith(WASM_PREFIX)) {
      const name = pathname.slice(WASM_PREFIX.length);
      if (!WASM_BINARIES.has(name)) throw new HttpError(404, `no such wasm binary: ${name}`);
      await sendFile(req, res, join(wasm, name), {});
    } else if (shardMatch) {
      try {
        sendBinary(req, res, mnistShardBytes(Number(shardMatch[1]), Number(shardMatch[2])));
      } catch (e) {
        if (e instanceof RangeError) throw new HttpError(400, `demo MNIST shard: ${e.message}`);
        throw e;
      }
    } else {
      const name = pathname.slice('/web/'.length);
      const manifest = await ready();
      if (!manifest.files.includes(name)) throw new HttpError(404, `no such file: ${pathname}`);
      const headers = WORKER_SCRIPTS.has(name) ? PAGE_HEADERS : {};
      await sendFile(req, res, join(dir, name), headers, manifest.gzipped.includes(name));
    }
    return true;
  };

  return async (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    try {
      return await route(req, res, pathname);
    } catch (e) {
      sendFailure(res, e, `${req.method} ${pathname}`, logger);
      return true;
    }
  };
}
