/**
 * The load of `npm run bench:serve` from wrk (Debian's `wrk`), when it is installed: one thread,
 * closed loop, keep-alive, each connection sending its next request when the answer has arrived,
 * as the Node generator does, but costing the machine far less CPU per request, so the server keeps
 * more of the 2 cores. Bodies rotate per request, as in the Node generator.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkJob {
  url: string;
  bodies: string[];
  connections: number;
  warmupMs: number;
  measureMs: number;
}

/** What one row measured (the Node generator reports the same). */
export interface LoadMeasurement {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx answers and socket errors (timeouts included). */
  errors: number;
  firstError: string | null;
}

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

const SCRIPT = (path: string) => `
local bodies = {}
local i = 0
init = function(args)
  for _, name in ipairs(args) do
    local f = assert(io.open(name, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", ${JSON.stringify(path)}, { ["Content-Type"] = "application/json" }, bodies[i])
end
`;

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`))));
  });
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 };

function durationMs(value: string, unit: string): number {
  const scale = UNIT_MS[unit];
  if (scale === undefined) throw new Error(`wrk printed an unknown time unit '${unit}'`);
  return Number(value) * scale;
}

/** Reads wrk's report (run with --latency). */
export function parseWrk(out: string): LoadMeasurement {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!total || !p50 || !p99) throw new Error(`unexpected wrk report:\n${out}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, v) => sum + Number(v), 0) : 0;
  return {
    requests: Number(total[1]),
    seconds: durationMs(total[2], total[3]) / 1000,
    p50Ms: durationMs(p50[1], p50[2]),
    p99Ms: durationMs(p99[1], p99[2]),
    errors: non2xx + socketErrors,
    firstError: non2xx + socketErrors > 0 ? (socket?.[0] ?? `${non2xx} non-2xx answers`) : null,
  };
}

/** A warm-up run, then the measured one, on fresh connections each. */
export async function runWrk(job: WrkJob): Promise<LoadMeasurement> {
  const dir = mkdtempSync(join(tmpdir(), 'fedserve-bench-wrk-'));
  try {
    const url = new URL(job.url);
    const script = join(dir, 'bodies.lua');
    writeFileSync(script, SCRIPT(url.pathname));
    const files = job.bodies.map((body, i) => {
      const file = join(dir, `body-${i}.json`);
      writeFileSync(file, body);
      return file;
    });
    const args = (ms: number) => [
      '-t1',
      `-c${job.connections}`,
      `-d${Math.max(1, Math.round(ms / 1000))}s`,
      '--timeout',
      '10s',
      '--latency',
      '-s',
      script,
      job.url,
      '--',
      ...files,
    ];
    await run(args(job.warmupMs));
    return parseWrk(await run(args(job.measureMs)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
