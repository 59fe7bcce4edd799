import { nodeMaskAccumulator, keystreamAccumulator } from './shared/secagg/masks.ts';
import { nodeKeystream } from './shared/secagg/keystream.ts';
import { nodeCryptoModule } from './shared/secagg/node-crypto.ts';
const c = nodeCryptoModule()!;
const M = 1_000_001;
const terms = Array.from({ length: 60 }, (_, i) => ({ key: new Uint8Array(32).fill(i), sign: (i % 2 ? 1 : -1) as 1 | -1 }));
const target = new Uint32Array(M);
for (let r = 0; r < 3; r++) {
  let t = performance.now(); await nodeMaskAccumulator(c)(target, terms); const a = (performance.now() - t) / terms.length;
  t = performance.now(); await keystreamAccumulator(nodeKeystream(c))(target, terms); const b = (performance.now() - t) / terms.length;
  console.log('per term ms: fused', a.toFixed(2), 'whole', b.toFixed(2));
}
