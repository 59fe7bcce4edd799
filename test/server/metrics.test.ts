import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../../server/config.js';
import { startCoordinator } from '../../server/index.js';
import { MetricsExposition } from '../../server/metrics-exposition.js';
import { JOIN_TOKEN, tempDir } from '../e2e/helpers.js';
import { silentLogger } from '../../server/logger.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function start(): Promise<string> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const config = parseCoordinatorConfig(
    { port: 0, host: '127.0.0.1', dataDir: dir.path, joinToken: JOIN_TOKEN },
    'test',
  );
  const running = await startCoordinator(config, { logger: silentLogger() });
  cleanup.push(() => running.close());
  return running.url;
}

describe('GET /metrics', () => {
  it("has the coordinator's series, the serving histograms and the process's default metrics, per coordinator", async () => {
    // Two coordinators in one process: each has registries of its own, so neither refuses the other's names.
    const [a, b] = [await start(), await start()];
    for (const url of [a, b]) {
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      for (const sample of [
        'fedserve_rounds_total{outcome="committed"} 0',
        'fedserve_rounds_total{outcome="failed"} 0',
        'fedserve_connected_clients 0',
        'fedserve_pending_rounds 0',
        'fedserve_model_version 0',
        'fedserve_updates_total{result="accepted"} 0',
        'fedserve_updates_total{result="refused"} 0',
        'fedserve_update_bytes_total 0',
        'fedserve_round_duration_seconds_bucket{le="+Inf"} 0',
        'fedserve_round_duration_seconds_count 0',
      ]) {
        expect(text).toMatch(new RegExp(`^${sample.replace(/[{}+"]/g, '\\$&')}$`, 'm'));
      }
      expect(text).toContain('# TYPE fedserve_round_duration_seconds histogram');
      expect(text).toContain('# TYPE fedserve_predict_latency_seconds histogram');
      expect(text).toContain('# TYPE fedserve_predict_batch_size histogram');
      // prom-client's default process metrics.
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
      // An evaluation not yet measured is absent, not 0.
      expect(text).not.toContain('fedserve_federated_evaluation_accuracy');
      expect(text).not.toContain('fedserve_privacy_epsilon');
    }
  });
});

describe('MetricsExposition', () => {
  it('shows the operational series and process metrics to everyone without differential privacy', async () => {
    const m = new MetricsExposition(false);
    new Gauge({ name: 'test_operational', help: 'x', registers: [m.operational] }).set(3);
    new Gauge({ name: 'test_public', help: 'x', registers: [m.public] }).set(4);
    const text = await m.render('public');
    expect(text).toMatch(/^test_operational 3$/m);
    expect(text).toMatch(/^test_public 4$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(await m.render('admin')).toMatch(/^test_operational 3$/m);
  });

  it('withholds the operational series and process metrics from the public with differential privacy on', async () => {
    const m = new MetricsExposition(true);
    new Gauge({ name: 'test_operational', help: 'x', registers: [m.operational] }).set(3);
    new Gauge({ name: 'test_public', help: 'x', registers: [m.public] }).set(4);
    const shown = await m.render('public');
    expect(shown).toMatch(/^test_public 4$/m);
    expect(shown).not.toContain('test_operational');
    expect(shown).not.toMatch(/^(process|nodejs)_/m);
    const admin = await m.render('admin');
    expect(admin).toMatch(/^test_operational 3$/m);
    expect(admin).toMatch(/^test_public 4$/m);
    expect(admin).toMatch(/^process_cpu_user_seconds_total /m);
  });
});
