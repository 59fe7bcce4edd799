import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What `npm install fedserve` gives a user. The repository is packed as a maintainer would (which
 * builds it), from a copy so that the build does not replace the dist/ other tests serve from; the
 * tarball is installed into an empty project from the npm registry (the local cache first), and
 * there the entry points, the README's library example, the CLI and the dashboard are used for real.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Not part of what `npm pack` reads, or rebuilt by it. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', '.fedserve']);

let work: string;
let project: string;
let installed: string;
let tarball: string;
let before: Map<string, string>;
const children: ChildProcess[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; it gets its own process group so that a timeout can end all of it. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} took over ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  const r = await run(cmd, args, cwd, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Every file and folder under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { recursive: true });
  const out = new Map<string, string>();
  for (const entry of entries) {
    const s = await stat(join(dir, entry));
    out.set(entry, `${s.isDirectory() ? 'dir' : s.size} ${s.mtimeMs}`);
  }
  return out;
}

/** `npx fedserve server` in the project until the test ends it; resolves with its URL. */
async function startServer(dataDir: string): Promise<{ url: string; output: () => string; stop: () => Promise<void> }> {
  const args = [
    '--no',
    'fedserve',
    'server',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--join-token',
    'join-token',
    '--admin-token',
    'admin-token',
  ];
  const child = spawn('npx', args, { cwd: project, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer) => {
      text += c.toString('utf8');
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(text);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('close', (code) => reject(new Error(`npx fedserve server exited with ${code}:\n${text}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM');
    await exited;
  };
  return { url, output: () => text, stop };
}

/** The README's "Use it as a library" example, as written there. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Use it as a library\n')[1];
  const code = section === undefined ? undefined : /```js\n([\s\S]*?)```/.exec(section.split('\n## ')[0]);
  if (!code) throw new Error('README.md has no js example under "## Use it as a library"');
  return code[1];
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fedserve-pack-'));
  const source = join(work, 'source');
  await cp(ROOT, source, { recursive: true, filter: (path) => !NOT_COPIED.has(relative(ROOT, path)) });
  await symlink(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
  await mustRun('npm', ['pack', '--pack-destination', work], source, 240_000);
  const tarballs = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);
  tarball = join(work, tarballs[0]);

  project = join(work, 'project');
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'uses-fedserve', private: true, type: 'module' }),
  );
  await mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project, 300_000);
  installed = join(project, 'node_modules', 'fedserve');
  before = await snapshot(installed);
}, 600_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package, installed into an empty project', () => {
  it('holds compiled JavaScript, declarations, the web bundle, README and licence, and no sources or tests', async () => {
    const files = [...before.keys()];
    for (const entry of ['shared', 'server', 'client']) {
      expect(files).toContain(`dist/${entry}/index.js`);
      expect(files).toContain(`dist/${entry}/index.d.ts`);
    }
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/fedserve.js',
        'dist/cli/main.js',
        'dist/client/trainer-worker.js',
        'dist/client/data-parallel-worker.js',
        'dist/server/serving/inference-worker.js',
        'README.md',
        'LICENSE',
      ]),
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/web/manifest.json',
        'dist/web/dashboard.html',
        'dist/web/dashboard.js',
        'dist/web/client.js',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^(test|simulations|bench|scripts)\b|results/.test(f))).toEqual([]);
    // Nothing it runs needs the build tools: they were not installed.
    for (const tool of ['tsx', 'esbuild', 'typescript', 'chart.js'])
      expect(existsSync(join(project, 'node_modules', tool)), tool).toBe(false);
  });

  it('imports each entry point, with type declarations a TypeScript user compiles against', async () => {
    const script = `
      const core = await import('fedserve');
      const server = await import('fedserve/server');
      const client = await import('fedserve/client');
      console.log([typeof core.setupBackend, typeof server.startCoordinator, typeof client.NodeClient].join(' '));`;
    const r = await mustRun(process.execPath, ['--input-type=module', '-e', script], project, 60_000);
    expect(r.stdout.trim()).toBe('function function function');

    await writeFile(
      join(project, 'uses-types.ts'),
      [
        "import { createSeedCnn, type BackendName } from 'fedserve';",
        "import { startCoordinator, type RunningCoordinator } from 'fedserve/server';",
        "import { NodeClient, type ClientOptions } from 'fedserve/client';",
        "const backend: BackendName = 'wasm';",
        'const start: (config: Parameters<typeof startCoordinator>[0]) => Promise<RunningCoordinator> = startCoordinator;',
        "const port: ClientOptions['server'] = 'http://127.0.0.1:1';",
        'export { backend, start, port, NodeClient, createSeedCnn };',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
          lib: ['ES2022', 'DOM'],
        },
        files: ['uses-types.ts'],
      }),
    );
    await mustRun(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
      project,
      120_000,
    );
  });

  it("runs the README's library example: a coordinator and a client, one round", async () => {
    await writeFile(join(project, 'example.mjs'), await readmeExample());
    const r = await mustRun(process.execPath, ['example.mjs'], project, 180_000);
    expect(r.stdout).toMatch(/round 1 committed: held-out accuracy \d+\.\d%/);
    expect(r.stdout).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  });

  it('answers npx fedserve help, serves the dashboard and its bundle from npx fedserve server, and wrote nothing into its install', async () => {
    const help = await mustRun('npx', ['--no', 'fedserve', 'help'], project, 60_000);
    expect(help.stdout).toMatch(/^fedserve: federated learning as a service/);
    expect(help.stdout).toContain('fedserve server [--config FILE] [options]');

    const server = await startServer(join(project, 'server-data'));
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<title>fedserve · dashboard</title>');
      const script = /<script[^>]*src="([^"]+)"/.exec(html);
      expect(script?.[1]).toBe('/web/dashboard.js');
      const bundle = await fetch(server.url + script![1]);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
      const wasm = await fetch(`${server.url}/web/tfjs-wasm/tfjs-backend-wasm-simd.wasm`);
      expect(wasm.status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(await snapshot(installed)).toEqual(before);
  });

  it('runs npx fedserve demo, whose client processes start from the installed bin', async () => {
    const demo = await mustRun(
      'npx',
      ['--no', 'fedserve', 'demo', '--clients', '1', '--rounds', '1'],
      project,
      180_000,
    );
    expect(demo.stdout).toMatch(/1 of 1 rounds committed/);
  });

  it('refuses to serve the dashboard when the install lacks its bundle, and does not build one there', async () => {
    const web = join(installed, 'dist', 'web');
    await rename(web, `${web}.moved`);
    const server = await startServer(join(project, 'server-data-2'));
    try {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(503);
      expect(((await page.json()) as { error: string }).error).toContain(`the web bundle is missing from ${web}`);
      expect(existsSync(web)).toBe(false);
    } finally {
      await server.stop();
      await rename(`${web}.moved`, web);
    }
  });
});
