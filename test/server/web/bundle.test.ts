import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWebBundle, ensureWebBundle, loadWebBundle, RUNS_FROM_SOURCE } from '../../../server/web/bundle.js';
import { lineLogger } from '../../../server/logger.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('web bundle', () => {
  it('builds the pages, rebuilds when a source is newer, and reuses a fresh build', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedserve-web-'));
    dirs.push(dir);
    const built = await buildWebBundle(dir);
    expect(built.files).toEqual(
      expect.arrayContaining([
        'client.js',
        'dashboard.js',
        'training-worker.js',
        'client.html',
        'dashboard.html',
        'style.css',
      ]),
    );
    expect(built.inputs).toEqual(
      expect.arrayContaining(['client/browser/client-page.ts', 'server/web/static/dashboard.html']),
    );
    const js = await readFile(join(dir, 'client.js'), 'utf8');
    expect(js).not.toMatch(/from\s*["']node:/);

    // Pretend the build predates every source: it must be redone.
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...built, builtAt: 0 }));
    const lines: string[] = [];
    const rebuilt = await ensureWebBundle(
      dir,
      lineLogger((l) => lines.push(l)),
    );
    expect(rebuilt.builtAt).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/built the web bundle/);

    const again = await ensureWebBundle(
      dir,
      lineLogger((l) => lines.push(l)),
    );
    expect(again.builtAt).toBe(rebuilt.builtAt);
    expect(lines).toHaveLength(1);
  });

  it('without build (an installed package) uses the bundle as it is and refuses a missing one without writing', async () => {
    expect(RUNS_FROM_SOURCE).toBe(true);
    const built = await mkdtemp(join(tmpdir(), 'fedserve-web-'));
    const empty = await mkdtemp(join(tmpdir(), 'fedserve-web-'));
    dirs.push(built, empty);
    const manifest = await buildWebBundle(built);
    // Older than every source, yet served as it is: an install has no sources to compare with.
    await writeFile(join(built, 'manifest.json'), JSON.stringify({ ...manifest, builtAt: 0 }));
    expect((await loadWebBundle(built, { build: false })).builtAt).toBe(0);

    await expect(loadWebBundle(empty, { build: false })).rejects.toThrow(`the web bundle is missing from ${empty}`);
    expect(await readdir(empty)).toEqual([]);
    await cp(built, empty, { recursive: true });
    await writeFile(join(empty, 'manifest.json'), '{"builtAt": ');
    await expect(loadWebBundle(empty, { build: false })).rejects.toThrow(/no valid manifest\.json/);
  });
});
