import { describe, expect, it } from 'vitest';
import { ServingMetrics } from '../../../server/serving/serving-metrics.js';

describe('ServingMetrics', () => {
  it('renders nothing before the first prediction', () => {
    expect(new ServingMetrics('mnist').render()).toBe('');
  });

  it('keeps latency and batch-size histograms per version, cumulative as Prometheus expects', () => {
    const m = new ServingMetrics('mnist');
    m.observeRequest(2, 0.004);
    m.observeRequest(2, 0.3);
    m.observeRequest(1, 0.0005);
    m.observeBatch(2, 3);
    m.observeBatch(2, 64);
    m.observeBatch(2, 5000);
    const text = m.render();
    const line = (prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));
    expect(line('fedserve_predict_latency_seconds_bucket{model="mnist",version="2",le="0.005"}')).toMatch(/ 1$/);
    expect(line('fedserve_predict_latency_seconds_bucket{model="mnist",version="2",le="0.25"}')).toMatch(/ 1$/);
    expect(line('fedserve_predict_latency_seconds_bucket{model="mnist",version="2",le="0.5"}')).toMatch(/ 2$/);
    expect(line('fedserve_predict_latency_seconds_count{model="mnist",version="1"}')).toBe(
      'fedserve_predict_latency_seconds_count{model="mnist",version="1"} 1',
    );
    expect(line('fedserve_predict_batch_size_bucket{model="mnist",version="2",le="4"}')).toMatch(/ 1$/);
    expect(line('fedserve_predict_batch_size_bucket{model="mnist",version="2",le="1024"}')).toMatch(/ 2$/);
    expect(line('fedserve_predict_batch_size_bucket{model="mnist",version="2",le="+Inf"}')).toMatch(/ 3$/);
    expect(line('fedserve_predict_batch_size_sum{model="mnist",version="2"}')).toBe(
      'fedserve_predict_batch_size_sum{model="mnist",version="2"} 5067',
    );
    expect(text.match(/^# TYPE \S+ histogram$/gm)).toEqual([
      '# TYPE fedserve_predict_latency_seconds histogram',
      '# TYPE fedserve_predict_batch_size histogram',
    ]);
    // Version 1 comes first, whatever the order of observation.
    expect(text.indexOf('version="1"')).toBeLessThan(text.indexOf('version="2"'));
  });

  it('escapes the model name in labels', () => {
    const m = new ServingMetrics('a"b\\c');
    m.observeBatch(1, 1);
    expect(m.render()).toContain('{model="a\\"b\\\\c",version="1",le="1"} 1');
  });
});
