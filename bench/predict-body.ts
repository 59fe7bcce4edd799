/**
 * What one large predict body costs the server: peak RSS growth and wall time of a single
 * POST /v1/models/mnist:predict with a body just under the 8 MiB limit, per input layout.
 *
 *   npm run bench:predict
 *
 * Each row runs in a fresh Node process (wasm backend): the seed CNN is loaded and warmed up by
 * predicting one batch from a Float32Array (so the model's own buffers exist already), then one
 * request is handled; the row shows the peak RSS (VmHWM, reset just before) above the baseline: parsing
 * the body, the input and output arrays, and the response.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const LIMIT = 8 * 1024 * 1024;
const LAYOUTS = ['flat [784]', 'rows [28][28]', 'pixels [28][28][1]'] as const;
type Layout = (typeof LAYOUTS)[number];

/** Pixel values with 8 decimals, like a client serializing float32 images. */
function instanceText(layout: Layout, seed: number): string {
  let s = seed;
  const px = () => ((s = (s * 16807) % 2147483647) / 2147483647).toFixed(8);
  const row = (wrap: boolean) => `[${Array.from({ length: 28 }, () => (wrap ? `[${px()}]` : px())).join(',')}]`;
  switch (layout) {
    case 'flat [784]':
      return `[${Array.from({ length: 784 }, px).join(',')}]`;
    case 'rows [28][28]':
      return `[${Array.from({ length: 28 }, () => row(false)).join(',')}]`;
    case 'pixels [28][28][1]':
      return `[${Array.from({ length: 28 }, () => row(true)).join(',')}]`;
    default: {
      const never: never = layout;
      throw new Error(`unknown layout ${String(never)}`);
    }
  }
}

/** As many instances as fit under the body limit. */
function body(layout: Layout): { bytes: Buffer; n: number } {
  const parts: string[] = [];
  let size = '{"instances":[]}'.length;
  for (let i = 1; ; i++) {
    const text = instanceText(layout, i);
    if (size + text.length + 1 > LIMIT) break;
    parts.push(text);
    size += text.length + 1;
  }
  return { bytes: Buffer.from(`{"instances":[${parts.join(',')}]}`), n: parts.length };
}

/** The process's peak resident set size since start or the last reset (Linux), in bytes. */
function peakRss(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmHWM in /proc/self/status (this bench needs Linux)');
  return Number(m[1]) * 1024;
}

async function child(layout: Layout): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const { setupBackend } = await import('../shared/engine/backend.js');
  const { createSeedCnn } = await import('../shared/model/seed-cnn.js');
  const { ModelRegistry } = await import('../server/serving/model-registry.js');
  const { handleServing } = await import('../server/serving/routes.js');
  const { CheckpointStore } = await import('../server/store/checkpoint-store.js');
  const { silentLogger } = await import('../server/logger.js');
  await setupBackend('wasm', { log: () => undefined, argv: [], env: {} });
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-bench-predict-'));
  const registry = new ModelRegistry(new CheckpointStore(dir, { logger: silentLogger() }));
  const model = createSeedCnn(1);
  await registry.publish(1, model);
  model.dispose();
  const { bytes, n } = body(layout);
  // One full batch (the registry predicts in batches of 128) allocates what the model needs.
  await registry.current()!.predict(new Float32Array(128 * 784).fill(0.5), 128);
  gc();
  gc();
  // Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
  writeFileSync('/proc/self/clear_refs', '5');
  const baseline = peakRss();
  const req = Object.assign(
    Readable.from(
      [...Array(Math.ceil(bytes.length / 65536)).keys()].map((i) => bytes.subarray(i * 65536, (i + 1) * 65536)),
    ),
    {
      method: 'POST',
      url: '/v1/models/mnist:predict',
      headers: { 'content-length': String(bytes.length), 'content-type': 'application/json' },
    },
  ) as unknown as IncomingMessage;
  let status = 0;
  const res = {
    headersSent: false,
    writeHead: (code: number) => {
      status = code;
      res.headersSent = true;
      return res;
    },
    end: () => res,
    destroy: () => undefined,
  };
  const start = performance.now();
  await handleServing(req, res as unknown as ServerResponse, { registry, logger: silentLogger() });
  const ms = performance.now() - start;
  const peak = peakRss();
  registry.dispose();
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(
    JSON.stringify({ layout, bytes: bytes.length, n, status, ms, peakMiB: (peak - baseline) / 2 ** 20 }),
  );
}

async function main(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  console.log('| layout | body bytes | instances | status | peak RSS above baseline | time |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const layout of LAYOUTS) {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--child', layout], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      p.stdout.on('data', (c: Buffer) => (text += c.toString()));
      p.on('error', reject);
      p.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`child for ${layout} exited with ${code}`)),
      );
    });
    const r = JSON.parse(out) as {
      layout: string;
      bytes: number;
      n: number;
      status: number;
      ms: number;
      peakMiB: number;
    };
    console.log(
      `| ${r.layout} | ${r.bytes} | ${r.n} | ${r.status} | ${r.peakMiB.toFixed(1)} MiB | ${r.ms.toFixed(0)} ms |`,
    );
  }
}

const i = process.argv.indexOf('--child');
await (i >= 0 ? child(process.argv[i + 1] as Layout) : main());
