import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChild, spawnFedserve, tempDir } from './helpers.js';

/** `fedserve server`'s operational log as a log shipper reads it: stdout is a pipe here, not a terminal. */

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

type LogLine = { level: number; msg: string; time: number } & Record<string, unknown>;

async function run(flags: string[], until: RegExp): Promise<LogLine[]> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  // A temp dir an interrupted save left: the checkpoint store removes it with a warning.
  await mkdir(join(dir.path, 'versions', '.tmp-1-1-abcdef'), { recursive: true });
  const server = spawnFedserve(['server', '--port', '0', '--data-dir', dir.path, ...flags]);
  cleanup.push(() => killChild(server.child, 'SIGKILL'));
  let stdout = '';
  server.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  await server.waitFor(until);
  // 'close', not 'exit': stdout may still hold the last lines when the process has exited.
  const exited = new Promise<void>((resolve) => server.child.once('close', () => resolve()));
  server.child.kill('SIGTERM');
  await exited;
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`not a JSON log line: ${l}\n\nstdout:\n${stdout}`);
      }
    });
}

describe('fedserve server log', () => {
  it('is JSON lines when stdout is not a terminal: level, time, msg and structured fields', async () => {
    // The last line the start writes: the generated admin token.
    const lines = await run([], /admin token \(generated/);
    const listening = lines.find((l) => l.msg.includes('listening on'))!;
    expect(listening).toMatchObject({ level: 30, task: 'mnist', version: 0 });
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(typeof listening.time).toBe('number');
    expect(lines.find((l) => l.msg.startsWith('removed '))).toMatchObject({
      level: 40,
      component: 'checkpoint-store',
    });
    expect(lines.find((l) => l.msg.startsWith('join token (generated'))).toMatchObject({ level: 40 });
    expect(lines.find((l) => l.msg.includes('TensorFlow.js backend'))).toMatchObject({ level: 30 });
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'shutting down' });
  });

  it('--log-level warn keeps warnings and drops info lines', async () => {
    const lines = await run(['--log-level', 'warn', '--log-format', 'json'], /admin token \(generated/);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every((l) => l.level >= 40)).toBe(true);
    expect(lines.map((l) => l.msg).join('\n')).not.toContain('listening on');
  });
});
