import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeCryptoModule } from '../../../shared/secagg/node-crypto.js';

/** nodeCryptoModule() with globalThis.process replaced for the call only (restored before anything else runs). */
function withProcess(proc: unknown): ReturnType<typeof nodeCryptoModule> {
  vi.stubGlobal('process', proc);
  try {
    return nodeCryptoModule();
  } finally {
    vi.unstubAllGlobals();
  }
}

describe('nodeCryptoModule', () => {
  afterEach(() => vi.unstubAllGlobals());

  it("is Node's crypto module under Node", async () => {
    const crypto = await import('node:crypto');
    const found = nodeCryptoModule();
    expect(found).toBe(crypto.default ?? crypto);
    expect(typeof found!.createCipheriv).toBe('function');
  });

  it('is undefined where there is no process (a browser) or no getBuiltinModule (Node before 20.16)', () => {
    expect(withProcess(undefined)).toBeUndefined();
    expect(withProcess({ env: {} })).toBeUndefined();
  });

  it('asks for node:crypto by that name', () => {
    const asked: string[] = [];
    const module = { hash: () => new Uint8Array(64) };
    const found = withProcess({ getBuiltinModule: (id: string) => (asked.push(id), module) });
    expect(found).toBe(module);
    expect(asked).toEqual(['node:crypto']);
  });
});
