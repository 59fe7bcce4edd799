import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { auditCommand } from '../../../simulations/audit/command.js';
import { BIN } from '../../e2e/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-audit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function fedserve(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const tiny = {
  name: 'tiny-audit',
  dimension: 128,
  honestClients: 10,
  canaries: 100,
  rounds: 8,
  samplingRate: 0.5,
  honestUpdateNorm: 1,
  canaryUpdateNorm: 10,
  guesses: { in: 20, out: 20 },
  delta: 1e-5,
  privacy: { mode: 'central', clipNorm: 1, targetEpsilon: 1000 },
  runs: [
    { label: 'z = 1', noiseMultiplier: 1 },
    { label: 'DP off', noiseMultiplier: null },
  ],
};

describe('fedserve audit', () => {
  it('writes the table (reported vs empirical epsilon per run) and results.json, and exits 0', async () => {
    const config = join(dir, 'tiny.json');
    await writeFile(config, JSON.stringify(tiny));
    const out = join(dir, 'out');
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await auditCommand(['--config', config, '--out', out]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(code).toBe(0);
    const summary = await readFile(join(out, 'summary.md'), 'utf8');
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as {
      runs: { label: string; reportedEpsilon: number | null; epsilonLowerBound: number }[];
    };
    expect(results.runs.map((r) => r.label)).toEqual(['z = 1', 'DP off']);
    const [dp, off] = results.runs;
    expect(summary).toContain(`| z = 1 | 1 | ${dp.reportedEpsilon!.toFixed(2)} | 8 x q = 0.5 | 100 (`);
    expect(summary).toContain(`| ${dp.epsilonLowerBound.toFixed(2)} | 40 |`);
    expect(summary).toMatch(/\| DP off \| off \| none \(no DP\) \| 8 x q = 0\.5 \| .* \| power check \|/);
    expect(off.epsilonLowerBound).toBeGreaterThan(dp.epsilonLowerBound);
    expect(summary).toContain(`Reproduce: \`fedserve audit --config ${config} --out ${out}\``);
  });

  it('refuses a missing flag, an unreadable file and malformed JSON, naming them', async () => {
    await expect(auditCommand(['--config', join(dir, 'x.json')])).rejects.toThrow(
      /^missing --out\n\nfedserve audit --config FILE --out DIR/,
    );
    await expect(auditCommand(['--config', join(dir, 'nope.json'), '--out', dir])).rejects.toThrow(
      `cannot read audit config ${join(dir, 'nope.json')}: ENOENT`,
    );
    await writeFile(join(dir, 'broken.json'), '{"name": ');
    await expect(auditCommand(['--config', join(dir, 'broken.json'), '--out', dir])).rejects.toThrow(
      `audit config ${join(dir, 'broken.json')} is not valid JSON: `,
    );
  });

  it('the process exits 1 with one message naming what is wrong with the config', async () => {
    const config = join(dir, 'bad.json');
    await writeFile(config, JSON.stringify({ ...tiny, canaries: 129 }));
    const invalid = fedserve('audit', '--config', config, '--out', join(dir, 'bad-out'));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(
      `fedserve: invalid audit config (${config}):\n✖ must be <= dimension (128): the canaries are orthogonal\n  → at canaries\n`,
    );
  });
});
