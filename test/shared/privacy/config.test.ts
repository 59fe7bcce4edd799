import { describe, expect, it } from 'vitest';
import { parsePrivacyConfig } from '../../../shared/privacy/config.js';
import { DEFAULT_RDP_ORDERS } from '../../../shared/privacy/rdp.js';

const base = { mode: 'central', noiseMultiplier: 1.1, delta: 1e-5, targetEpsilon: 8 };

describe('privacy config', () => {
  it('parses fixed clipping with default orders', () => {
    expect(parsePrivacyConfig({ ...base, clipNorm: 0.5 })).toEqual({
      mode: 'central',
      noiseMultiplier: 1.1,
      clipping: { kind: 'fixed', clipNorm: 0.5 },
      delta: 1e-5,
      targetEpsilon: 8,
      orders: DEFAULT_RDP_ORDERS,
    });
  });

  it('parses adaptive clipping with the paper defaults for gamma and eta', () => {
    const c = parsePrivacyConfig({ ...base, mode: 'distributed', adaptive: { initialClipNorm: 0.1, bitNoiseStd: 5 } });
    expect(c.clipping).toEqual({
      kind: 'adaptive',
      initialClipNorm: 0.1,
      targetQuantile: 0.5,
      learningRate: 0.2,
      bitNoiseStd: 5,
    });
    expect(c.mode).toBe('distributed');
  });

  it('names what is wrong', () => {
    expect(() => parsePrivacyConfig({ ...base })).toThrow(
      /exactly one of clipNorm .* or adaptive[^\n]*\n\s*→ at clipNorm/,
    );
    expect(() =>
      parsePrivacyConfig({ ...base, clipNorm: 1, adaptive: { initialClipNorm: 1, bitNoiseStd: 5 } }),
    ).toThrow(/exactly one of clipNorm/);
    expect(() => parsePrivacyConfig({ ...base, adaptive: { initialClipNorm: 1, bitNoiseStd: 0.5 } })).toThrow(
      /must exceed noiseMultiplier \/ 2 = 0.55[\s\S]*at adaptive.bitNoiseStd/,
    );
    // sigma_b = z / 2 exactly leaves nothing for the updates either.
    expect(() => parsePrivacyConfig({ ...base, adaptive: { initialClipNorm: 1, bitNoiseStd: 0.55 } })).toThrow(
      /must exceed noiseMultiplier \/ 2 = 0.55/,
    );
    expect(parsePrivacyConfig({ ...base, adaptive: { initialClipNorm: 1, bitNoiseStd: 0.56 } }).clipping.kind).toBe(
      'adaptive',
    );
    expect(() => parsePrivacyConfig({ ...base, clipNorm: 1, delta: 1 })).toThrow(/delta/);
    expect(() => parsePrivacyConfig({ ...base, clipNorm: 1, mode: 'local' })).toThrow(/mode/);
    expect(() => parsePrivacyConfig({ ...base, clipNorm: 1, noiseMultipler: 2 })).toThrow(/noiseMultipler/);
  });
});
