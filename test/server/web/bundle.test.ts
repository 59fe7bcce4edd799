import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWebBundle, ensureWebBundle } from '../../../server/web/bundle.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('web bundle', () => {
  it('builds the pages, rebuilds when a source is newer, and reuses a fresh build', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedserve-web-'));
    dirs.push(dir);
    const built = await buildWebBundle(dir);
    expect(built.files).toEqual(expect.arrayContaining(['client.js', 'dashboard.js', 'client.html', 'dashboard.html', 'style.css']));
    expect(built.inputs).toEqual(expect.arrayContaining(['client/browser/client-page.ts', 'server/web/static/dashboard.html']));
    const js = await readFile(join(dir, 'client.js'), 'utf8');
    expect(js).not.toMatch(/from\s*["']node:/);

    // Pretend the build predates every source: it must be redone.
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...built, builtAt: 0 }));
    const lines: string[] = [];
    const rebuilt = await ensureWebBundle(dir, (l) => lines.push(l));
    expect(rebuilt.builtAt).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/built the web bundle/);

    const again = await ensureWebBundle(dir, (l) => lines.push(l));
    expect(again.builtAt).toBe(rebuilt.builtAt);
    expect(lines).toHaveLength(1);
  });
});
