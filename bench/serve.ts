/**
 * `npm run bench:serve`: predict throughput and latency of a real coordinator on 127.0.0.1 (seed
 * CNN, wasm backend), unbatched and with dynamic batching, side by side in the same run, against
 * the forward-pass limit measured in that run.
 *
 * The load comes from another process: closed loop, keep-alive, each connection sends its next
 * request as soon as the previous answer has arrived; wrk (Debian's `wrk`) when installed, else a
 * Node child process (`--load node` forces it; it costs more CPU per request, which the server then
 * lacks on 2 cores). Rows: batch 1 at 1, 16 and 64 connections and batch 32 at 16 connections.
 *
 * Three servers (unbatched; batched; batched with forward passes on the inference thread) run side
 * by side and each row measures them back to back. The last line reports the batched server
 * configured as the defaults are.
 * The limit L is the samples/s of large batched forward passes (batches of 128, the registry's
 * chunk size, best of several) measured in the server process before every measurement, so it
 * sees the same machine load; the FLOP-based figure (model FLOPs per sample over a large wasm matrix
 * product's GFLOP/s) is printed too. Last line:
 * `serve: b1_c64_rps=X p99_ms=Y b32_samples_s=Z limit=L ratio=R` with R = X / L.
 */
import * as tf from '@tensorflow/tfjs';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWrk, wrkAvailable, type LoadMeasurement } from './serve-wrk.js';

interface LoadJob {
  host: string;
  port: number;
  path: string;
  bodies: string[];
  connections: number;
  warmupMs: number;
  measureMs: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  firstError: string | null;
}

const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 4);
const ROWS = [
  { batch: 1, connections: 1 },
  { batch: 1, connections: 16 },
  { batch: 1, connections: 64 },
  { batch: 32, connections: 16 },
] as const;
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

/** Pixel values with 8 decimals, like a client serializing float32 images. */
function instanceText(seed: number): string {
  let s = seed;
  return `[${Array.from({ length: 784 }, () => ((s = (s * 16807) % 2147483647) / 2147483647).toFixed(8)).join(',')}]`;
}

function bodies(batch: number): string[] {
  return Array.from(
    { length: 8 },
    (_, k) => `{"instances":[${Array.from({ length: batch }, (_, i) => instanceText(k * batch + i + 1)).join(',')}]}`,
  );
}

// ---- the load generator (child process) ----

/** One keep-alive connection in a closed loop; resolves when `stopAt` has passed. */
function connection(
  job: LoadJob,
  index: number,
  measureFrom: number,
  stopAt: number,
  result: LoadResult,
): Promise<void> {
  const requests = job.bodies.map((b) =>
    Buffer.from(
      `POST ${job.path} HTTP/1.1\r\nHost: ${job.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`,
    ),
  );
  return new Promise((resolve, reject) => {
    const socket = connect(job.port, job.host);
    socket.setNoDelay(true);
    let k = index;
    let sentAt = 0;
    let pending: Buffer = Buffer.alloc(0);
    const send = () => {
      if (performance.now() >= stopAt) {
        socket.end();
        resolve();
        return;
      }
      sentAt = performance.now();
      socket.write(requests[k++ % requests.length]);
    };
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const headerEnd = pending.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const head = pending.toString('latin1', 0, headerEnd);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (!Number.isFinite(length)) throw new Error(`response without content-length: ${head}`);
      if (pending.length < headerEnd + 4 + length) return;
      const status = Number(head.slice(9, 12));
      const now = performance.now();
      if (sentAt >= measureFrom) {
        result.requests++;
        result.latenciesMs.push(now - sentAt);
        if (status !== 200) {
          result.errors++;
          result.firstError ??= `${status} ${pending.toString('utf8', headerEnd + 4, headerEnd + 4 + Math.min(length, 300))}`;
        }
      }
      pending = pending.subarray(headerEnd + 4 + length);
      send();
    });
  });
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + job.warmupMs;
  const stopAt = measureFrom + job.measureMs;
  const result: LoadResult = {
    requests: 0,
    errors: 0,
    seconds: job.measureMs / 1000,
    latenciesMs: [],
    firstError: null,
  };
  await Promise.all(Array.from({ length: job.connections }, (_, i) => connection(job, i, measureFrom, stopAt, result)));
  return result;
}

// ---- the server and the table (parent process) ----

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function askChild(child: ChildProcess, job: LoadJob): Promise<LoadMeasurement> {
  return new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    child.send(job);
  }).then((r) => {
    const sorted = r.latenciesMs.sort((a, b) => a - b);
    return {
      requests: r.requests,
      seconds: r.seconds,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      errors: r.errors,
      firstError: r.firstError,
    };
  });
}

/** FLOPs of one forward pass: convolutions and dense layers (biases, activations, pooling are a rounding error). */
function forwardFlopsPerSample(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const kernel = layer.getWeights()[0];
    if (!kernel) continue;
    const out = layer.outputShape as number[];
    flops += 2 * (out.length === 4 ? out[1] * out[2] : 1) * kernel.size;
  }
  return flops;
}

/** Forward passes and instances so far, from the server's batch-size histogram. */
async function batchTotals(url: string): Promise<{ passes: number; instances: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const total = (suffix: string) =>
    [...text.matchAll(new RegExp(`^fedserve_predict_batch_size_${suffix}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  return { passes: total('count'), instances: total('sum') };
}

function matMulGflops(n: number): number {
  const [a, b] = [tf.randomUniform([n, n]), tf.randomUniform([n, n])] as tf.Tensor2D[];
  tf.matMul(a, b).dispose();
  const t0 = performance.now();
  const c = tf.matMul(a, b);
  c.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([a, b, c]);
  return (2 * n ** 3) / seconds / 1e9;
}

async function main(): Promise<void> {
  const { setupBackend } = await import('../shared/engine/backend.js');
  const { createSeedCnn } = await import('../shared/model/seed-cnn.js');
  const { startCoordinator } = await import('../server/app.js');
  const { parseCoordinatorConfig } = await import('../server/config.js');
  const { silentLogger } = await import('../server/logger.js');
  const loadStart = loadavg()[0];
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
  const seedCnn = createSeedCnn();
  const flops = forwardFlopsPerSample(seedCnn);
  seedCnn.dispose();

  const useWrk = !process.argv.includes('--load=node') && wrkAvailable();
  const child = useWrk
    ? undefined
    : fork(fileURLToPath(import.meta.url), ['--load'], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
  const { inferenceThread: threadByDefault } = parseCoordinatorConfig({ dataDir: tmpdir() }, 'bench').serving;
  const table: string[] = [];
  const limits: number[] = [];
  let gflops = 0;
  const results = new Map<string, { rps: number; p99: number; samples: number; errors: number }>();
  // Both servers run for the whole bench, and each row measures them back to back, so that both
  // see the same machine load.
  const servers: { mode: string; server: Awaited<ReturnType<typeof startCoordinator>>; dir: string }[] = [];
  try {
    const modes = [
      { mode: 'unbatched', batching: false, inferenceThread: false },
      { mode: 'batched', batching: true, inferenceThread: false },
      { mode: 'batched, inference thread', batching: true, inferenceThread: true },
    ];
    for (const { mode, batching, inferenceThread } of modes) {
      const dir = await mkdtemp(join(tmpdir(), 'fedserve-bench-serve-'));
      const config = parseCoordinatorConfig(
        { port: 0, dataDir: dir, serving: { batching: { enabled: batching }, inferenceThread } },
        'bench',
      );
      servers.push({ mode, server: await startCoordinator(config, { logger: silentLogger() }), dir });
    }
    for (const row of ROWS) {
      for (const { mode, server } of servers) {
        // The limit, before every measurement, so that it sees the machine as the rows do.
        const model = server.registry.current()!;
        const x = new Float32Array(512 * model.featureSize).fill(0.5);
        const t0 = performance.now();
        await model.predict(x, 512);
        limits.push(512 / ((performance.now() - t0) / 1000));
        gflops = Math.max(gflops, matMulGflops(1024));

        progress(`${mode}: batch ${row.batch}, ${row.connections} connections, ${SECONDS} s...`);
        const url = new URL(server.url);
        const path = '/v1/models/mnist:predict';
        const load = {
          bodies: bodies(row.batch),
          connections: row.connections,
          warmupMs: 1_000,
          measureMs: SECONDS * 1_000,
        };
        const before = await batchTotals(server.url);
        const r = child
          ? await askChild(child, { host: url.hostname, port: Number(url.port), path, ...load })
          : await runWrk({ url: `${server.url}${path}`, ...load });
        const after = await batchTotals(server.url);
        const meanBatch = (after.instances - before.instances) / (after.passes - before.passes);
        const rps = r.requests / r.seconds;
        const p50 = r.p50Ms;
        const p99 = r.p99Ms;
        results.set(`${mode} b${row.batch} c${row.connections}`, {
          rps,
          p99,
          samples: rps * row.batch,
          errors: r.errors,
        });
        table.push(
          `| ${mode} | ${row.batch} | ${row.connections} | ${rps.toFixed(0)} | ${(rps * row.batch).toFixed(0)} | ${meanBatch.toFixed(1)} | ${p50.toFixed(1)} ms | ${p99.toFixed(1)} ms | ${r.errors}${r.firstError ? ` (${r.firstError})` : ''} |`,
        );
      }
    }
  } finally {
    child?.kill();
    for (const { server, dir } of servers) {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  const limit = Math.max(...limits);
  const median = [...limits].sort((a, b) => a - b)[Math.floor(limits.length / 2)];
  const flopLimit = (gflops * 1e9) / flops;
  console.log(
    '| predictor | batch | connections | requests/s | samples/s | instances per forward pass | p50 | p99 | errors |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const line of table) console.log(line);
  console.log('');
  console.log(
    `forward-pass limit L: ${limit.toFixed(0)} samples/s (best of ${limits.length} forward passes of 512 instances in batches of 128, measured between the rows; median ${median.toFixed(0)})`,
  );
  console.log(
    `load average (1 min) at start and end: ${loadStart.toFixed(2)}, ${loadavg()[0].toFixed(2)} on ${cpus().length} cores; ${SECONDS} s per row after 1 s of warm-up; load from ${useWrk ? 'wrk (1 thread)' : 'a Node child process'}`,
  );
  console.log(
    `FLOP-based figure: ${(flops / 1e6).toFixed(2)} MFLOP per sample / ${gflops.toFixed(1)} GFLOP/s (1024^3 wasm matmul, best) = ${flopLimit.toFixed(0)} samples/s`,
  );
  // The last line is the batched server as configured by default.
  const mode = threadByDefault ? 'batched, inference thread' : 'batched';
  const b1 = results.get(`${mode} b1 c64`)!;
  const b32 = results.get(`${mode} b32 c16`)!;
  console.log(`the last line: the ${mode} server (the defaults)`);
  console.log(
    `serve: b1_c64_rps=${b1.rps.toFixed(0)} p99_ms=${b1.p99.toFixed(1)} b32_samples_s=${b32.samples.toFixed(0)} limit=${limit.toFixed(0)} ratio=${(b1.rps / limit).toFixed(2)}`,
  );
}

if (process.argv.includes('--load')) {
  process.on('message', (job: LoadJob) => {
    runLoad(job).then(
      (r) => process.send!(r),
      (e: unknown) => {
        console.error(`load generator failed: ${e instanceof Error ? e.stack : String(e)}`);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}
