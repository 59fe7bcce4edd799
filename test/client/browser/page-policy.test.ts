import { describe, expect, it } from 'vitest';
import { describePolicy, parsePolicyParams } from '../../../client/browser/page-policy.js';

describe('the client page policy from its URL', () => {
  it('reads the three settings like the CLI flags', () => {
    expect(parsePolicyParams(new URLSearchParams(''))).toEqual({ requireSecureAggregation: false });
    const policy = parsePolicyParams(
      new URLSearchParams('require-secure-aggregation=1&min-noise-multiplier=1.1&max-clip-norm=2'),
    );
    expect(policy).toEqual({ requireSecureAggregation: true, minNoiseMultiplier: 1.1, maxClipNorm: 2 });
    expect(describePolicy(policy)).toBe(
      'policy: secure aggregation required, DP noise multiplier >= 1.1, DP clip norm <= 2',
    );
  });

  it('refuses values it cannot honour, naming them', () => {
    expect(() => parsePolicyParams(new URLSearchParams('require-secure-aggregation=yes'))).toThrow(
      "require-secure-aggregation takes 1 or 0, got 'yes'",
    );
    expect(() => parsePolicyParams(new URLSearchParams('min-noise-multiplier=-1'))).toThrow(
      "min-noise-multiplier needs a positive number, got '-1'",
    );
    expect(() => parsePolicyParams(new URLSearchParams('max-clip-norm='))).toThrow(
      "max-clip-norm needs a positive number, got ''",
    );
  });
});
