import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServingMetrics } from '../../../server/serving/serving-metrics.js';

function served(model = 'mnist'): { metrics: ServingMetrics; text: () => Promise<string> } {
  const registry = new Registry();
  return { metrics: new ServingMetrics(model, registry), text: () => registry.metrics() };
}

describe('ServingMetrics', () => {
  it('has both families and no samples before the first prediction', async () => {
    const text = await served().text();
    expect(text.match(/^# TYPE \S+ histogram$/gm)).toEqual([
      '# TYPE fedserve_predict_latency_seconds histogram',
      '# TYPE fedserve_predict_batch_size histogram',
    ]);
    expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([]);
  });

  it('keeps latency and batch-size histograms per version, cumulative as Prometheus expects', async () => {
    const { metrics: m, text: render } = served();
    m.observeRequest(2, 0.004);
    m.observeRequest(2, 0.3);
    m.observeRequest(1, 0.0005);
    m.observeBatch(2, 3);
    m.observeBatch(2, 64);
    m.observeBatch(2, 5000);
    const text = await render();
    const sample = (line: string) => text.split('\n').find((l) => l.startsWith(`${line} `));
    expect(sample('fedserve_predict_latency_seconds_bucket{le="0.005",model="mnist",version="2"}')).toMatch(/ 1$/);
    expect(sample('fedserve_predict_latency_seconds_bucket{le="0.25",model="mnist",version="2"}')).toMatch(/ 1$/);
    expect(sample('fedserve_predict_latency_seconds_bucket{le="0.5",model="mnist",version="2"}')).toMatch(/ 2$/);
    expect(sample('fedserve_predict_latency_seconds_count{model="mnist",version="1"}')).toBe(
      'fedserve_predict_latency_seconds_count{model="mnist",version="1"} 1',
    );
    expect(sample('fedserve_predict_batch_size_bucket{le="4",model="mnist",version="2"}')).toMatch(/ 1$/);
    expect(sample('fedserve_predict_batch_size_bucket{le="1024",model="mnist",version="2"}')).toMatch(/ 2$/);
    expect(sample('fedserve_predict_batch_size_bucket{le="+Inf",model="mnist",version="2"}')).toMatch(/ 3$/);
    expect(sample('fedserve_predict_batch_size_sum{model="mnist",version="2"}')).toBe(
      'fedserve_predict_batch_size_sum{model="mnist",version="2"} 5067',
    );
    // Version 1 served no batch: it has no batch-size series.
    expect(text).not.toContain('fedserve_predict_batch_size_count{model="mnist",version="1"}');
  });

  it('escapes the model name in labels', async () => {
    const { metrics: m, text } = served('a"b\\c');
    m.observeBatch(1, 1);
    expect(await text()).toContain('{le="1",model="a\\"b\\\\c",version="1"} 1');
  });
});
