import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { backendFlag, setupBackend } from '../../../shared/engine/backend.js';

function collect(): { log: (m: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (m) => lines.push(m), lines };
}

describe('setupBackend', () => {
  it('without tfjs-node installed, picks wasm and says why', async () => {
    const { log, lines } = collect();
    const name = await setupBackend(undefined, { log, argv: [], env: {} });
    expect(name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("backend 'wasm'");
    expect(lines[0]).toContain('@tensorflow/tfjs-node did not load');
  });

  it('an unavailable preference falls back down the chain', async () => {
    const { log, lines } = collect();
    expect(await setupBackend('tensorflow', { log, argv: [], env: {} })).toBe('wasm');
    expect(lines[0]).toContain('requested: tensorflow');
  });

  it('FEDSERVE_BACKEND overrides the preference, and the flag overrides both', async () => {
    const { log, lines } = collect();
    expect(await setupBackend('wasm', { log, argv: [], env: { FEDSERVE_BACKEND: 'cpu' } })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(lines[0]).toContain('FEDSERVE_BACKEND: cpu');
    expect(
      await setupBackend('cpu', { log, argv: ['node', 'x', '--backend', 'wasm'], env: { FEDSERVE_BACKEND: 'cpu' } }),
    ).toBe('wasm');
    expect(lines[1]).toContain('--backend flag: wasm');
  });

  it('rejects unknown names, naming where they came from', async () => {
    await expect(
      setupBackend(undefined, { log: () => {}, argv: [], env: { FEDSERVE_BACKEND: 'webgpu' } }),
    ).rejects.toThrow(/unknown backend 'webgpu' from FEDSERVE_BACKEND/);
    await expect(setupBackend(undefined, { log: () => {}, argv: ['--backend=gpu'], env: {} })).rejects.toThrow(
      /from the --backend flag/,
    );
  });

  it('parses both flag spellings and rejects a missing value', () => {
    expect(backendFlag(['--backend', 'cpu'])).toBe('cpu');
    expect(backendFlag(['--port', '1', '--backend=wasm'])).toBe('wasm');
    expect(backendFlag(['--port', '1'])).toBeUndefined();
    expect(() => backendFlag(['--backend'])).toThrow(/needs a value/);
  });
});
