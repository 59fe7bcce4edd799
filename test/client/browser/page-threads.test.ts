import { describe, expect, it } from 'vitest';
import { defaultPageThreads, describeThreads, parseThreadsSetting } from '../../../client/browser/page-threads.js';

describe('the client page threads setting', () => {
  it('defaults to the browser cores up to 4, and 1 when the browser does not say', () => {
    expect([1, 2, 4, 16].map((c) => defaultPageThreads(c))).toEqual([1, 2, 4, 4]);
    expect(defaultPageThreads(0)).toBe(1);
  });

  it('reads a whole number from 1 to 64 and refuses anything else, naming it', () => {
    expect(parseThreadsSetting('1')).toBe(1);
    expect(parseThreadsSetting(' 64 ')).toBe(64);
    for (const bad of ['', '0', '65', '2.5', 'two', '-1'])
      expect(() => parseThreadsSetting(bad)).toThrow(
        `training threads must be a whole number from 1 to 64, got '${bad}'`,
      );
  });

  it('says why the page trains on the threads it does', () => {
    expect(describeThreads(2, 2, 'wasm', undefined)).toBe('Web Workers, each batch split 2 ways');
    expect(describeThreads(1, 1, 'wasm', undefined)).toBe('the page itself, as set');
    expect(describeThreads(1, 4, 'wasm', 'Worker is not defined')).toBe(
      'the page itself: asked for 4, but Web Workers are unavailable (Worker is not defined)',
    );
    expect(describeThreads(1, 4, 'webgl', undefined)).toBe(
      "the page itself: asked for 4, but the 'webgl' backend is not split across workers",
    );
  });
});
