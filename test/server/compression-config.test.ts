import { describe, expect, it } from 'vitest';
import { serverConfigFromArgs } from '../../cli/server-args.js';
import { checkCompressionConfig } from '../../server/compression-config.js';
import { parseCoordinatorConfig } from '../../server/config.js';

const DP = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 };

describe('compression config', () => {
  it('defaults to float32 and takes the codec and top-k fraction from flags', () => {
    expect(serverConfigFromArgs([], {}).compression).toEqual({ codec: 'float32' });
    expect(serverConfigFromArgs(['--codec', 'int8'], {}).compression).toEqual({ codec: 'int8' });
    expect(serverConfigFromArgs(['--codec', 'int4'], {}).compression).toEqual({ codec: 'int4' });
    expect(serverConfigFromArgs(['--codec', 'topk'], {}).compression).toEqual({ codec: 'topk', fraction: 0.1 });
    expect(serverConfigFromArgs(['--codec', 'topk', '--topk-fraction', '0.05'], {}).compression).toEqual({
      codec: 'topk',
      fraction: 0.05,
    });
  });

  it.each([
    [['--codec', 'zip'], /compression\.codec/],
    [['--codec', 'topk', '--topk-fraction', '0'], /topkFraction/],
    [['--codec', 'topk', '--topk-fraction', '1.5'], /topkFraction/],
  ])('refuses %j naming the field', (argv, text) => {
    expect(() => serverConfigFromArgs(argv, {})).toThrow(text);
  });

  it('allows only int8 under secure aggregation, and without DP; refuses compression under distributed DP, not under central DP', () => {
    const secure = (codec: string, extra: object = {}) =>
      parseCoordinatorConfig(
        {
          compression: { codec },
          secureAggregation: { enabled: true },
          strategy: { sampler: { minClients: 3 } },
          ...extra,
        },
        'test',
      );
    expect(() => checkCompressionConfig(secure('int8'))).not.toThrow();
    expect(() => checkCompressionConfig(secure('int4'))).toThrow(
      /int4 works in plaintext rounds only; under secure aggregation use int8/,
    );
    expect(() => checkCompressionConfig(secure('topk'))).toThrow(/topk works in plaintext rounds only/);
    expect(() => checkCompressionConfig(secure('int8', { privacy: { mode: 'distributed', ...DP } }))).toThrow(
      /cannot be combined with differential privacy/,
    );
    const distributed = parseCoordinatorConfig(
      { compression: { codec: 'topk' }, privacy: { mode: 'distributed', ...DP } },
      'test',
    );
    expect(() => checkCompressionConfig(distributed)).toThrow(
      /topk cannot be used with distributed differential privacy/,
    );
    expect(() =>
      checkCompressionConfig(
        parseCoordinatorConfig({ compression: { codec: 'int4' }, privacy: { mode: 'central', ...DP } }, 'test'),
      ),
    ).not.toThrow();
    expect(() =>
      checkCompressionConfig(parseCoordinatorConfig({ secureAggregation: { enabled: true } }, 'test')),
    ).not.toThrow();
  });
});
