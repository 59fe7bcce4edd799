import { runSecAgg, clientIds } from './test/shared/secagg/driver.ts';
const M = 1_000_000; const n = 100;
const pool = Array.from({ length: 4 }, () => Float32Array.from({ length: M }, () => Math.random() * 0.2 - 0.1));
const ids = clientIds(n);
const dropAt = new Map(ids.slice(0, 30).map((id) => [id, 'masked-input' as const]));
const r = await runSecAgg({ clients: n, vectorLength: M, update: (id) => ({ delta: pool[ids.indexOf(id) % 4], numExamples: 100 }), dropAt, assumptions: { dropout: 0.3, corrupt: 0.05, failure: 1e-3, exposure: 1e-6 } });
console.log(r.outcome.kind, 'server', r.serverMs.toFixed(0));
