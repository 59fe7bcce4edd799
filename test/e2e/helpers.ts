import { afterEach, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataSpecSync } from '../../shared/data/data-spec.node.js';
import { NodeClient, type RoundOutcome } from '../../client/node-client.js';
import type { Progress } from '../../client/progress.js';
import { setupBackend } from '../../shared/engine/backend.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../server/config.js';
import { lineLogger } from '../../server/logger.js';

export const JOIN_TOKEN = 'e2e-join-token';
export const ADMIN_TOKEN = 'e2e-admin-token';
export const BIN = fileURLToPath(new URL('../../bin/fedserve.js', import.meta.url));

export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'fedserve-e2e-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A coordinator on an ephemeral 127.0.0.1 port with fixed tokens; `logs` collects its lines. */
export async function startTestCoordinator(
  dataDir: string,
  overrides: Partial<CoordinatorConfigInput> = {},
): Promise<RunningCoordinator & { logs: string[] }> {
  const logs: string[] = [];
  const config = parseCoordinatorConfig(
    { port: 0, host: '127.0.0.1', dataDir, joinToken: JOIN_TOKEN, adminToken: ADMIN_TOKEN, ...overrides },
    'test',
  );
  const running = await startCoordinator(config, { logger: lineLogger((line) => logs.push(line)) });
  return Object.assign(running, { logs });
}

export function collectingProgress(lines: string[]): Progress {
  return { line: (t) => lines.push(t), step: () => undefined, end: (t) => lines.push(t) };
}

export interface TestClient {
  client: NodeClient;
  lines: string[];
  outcomes: RoundOutcome[];
  /** Settles when the client stops; rejects on a fatal error. */
  done: Promise<void>;
}

/** An in-process client on a data SPEC (CSV label column `labelColumn`, default 'label'). */
export function startClient(
  url: string,
  spec: string,
  name: string,
  token = JOIN_TOKEN,
  labelColumn?: string,
): TestClient {
  const lines: string[] = [];
  const outcomes: RoundOutcome[] = [];
  const client = new NodeClient({
    server: url,
    token,
    data: loadDataSpecSync(spec, labelColumn ? { labelColumn } : {}),
    name,
    progress: collectingProgress(lines),
    reconnectDelayMs: 200,
    reconnectDelayMaxMs: 1000,
  });
  client.onRound((o) => outcomes.push(o));
  const done = client.run();
  done.catch(() => undefined);
  return { client, lines, outcomes, done };
}

/** Resolves with the next `n` closed rounds' records. */
export function nextRounds(running: RunningCoordinator, n: number): Promise<RoundRecord[]> {
  const records: RoundRecord[] = [];
  return new Promise((resolve) => {
    const onRound = (r: RoundRecord) => {
      records.push(r);
      if (records.length === n) {
        running.coordinator.off('round', onRound);
        resolve(records);
      }
    };
    running.coordinator.on('round', onRound);
  });
}

/** A `fedserve` child process; `output` accumulates stdout + stderr. */
export function spawnFedserve(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; output: () => string; waitFor: (re: RegExp) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const w of [...waiters]) {
      const m = text.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return {
    child,
    output: () => text,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const m = text.match(re);
        if (m) {
          resolve(m);
          return;
        }
        waiters.push({ re, resolve });
        child.once('exit', (code) =>
          reject(new Error(`fedserve ${args[0]} exited (${code}) before printing ${re}:\n${text}`)),
        );
      }),
  };
}

/** Ends a child process we started, by its pid, and waits for it. */
export async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/**
 * A coordinator test file's set-up: the wasm backend before its tests, and teardown steps (push them
 * on the returned list) run last-first after each test.
 */
export function coordinatorSuite(): (() => Promise<void>)[] {
  const steps: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    await setupBackend('wasm', { log: () => undefined });
  });
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step();
  });
  return steps;
}
