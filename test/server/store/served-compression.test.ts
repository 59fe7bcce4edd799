import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { getFlatWeights, setFlatWeights } from '../../../shared/model/weights.js';
import { taskFromModel } from '../../../shared/task.js';
import { pruneByMagnitude, servedModelFiles, type ServedDtype } from '../../../server/store/served-compression.js';
import type { ModelArtifact } from '../../../server/store/tfjs-model-json.js';

/** A small classifier whose weights span several ranges, with exact zeros in its biases. */
function artifact(): ModelArtifact {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [6],
        units: 8,
        activation: 'relu',
        kernelInitializer: tf.initializers.randomNormal({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 3,
        activation: 'softmax',
        kernelInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 3, seed: 2 }),
      }),
    ],
  });
  const task = taskFromModel('tiny', model);
  model.dispose();
  return { modelTopology: task.modelTopology, weightSpecs: task.weightSpecs, weights: task.initialWeights };
}

/** A one-layer model (kernel [1, 3], bias [3]) with the given weights. */
function tinyArtifact(kernel: number[], bias: number[]): ModelArtifact {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [1], units: 3 })] });
  const task = taskFromModel('tiny', model);
  model.dispose();
  return {
    modelTopology: task.modelTopology,
    weightSpecs: task.weightSpecs,
    weights: Float32Array.from([...kernel, ...bias]),
  };
}

/** Serves one model.json + weights.bin over HTTP, the way a browser would fetch them. */
let server: Server;
let files: { modelJson: string; weights: Uint8Array } | undefined;
let base: string;

beforeAll(async () => {
  await setupBackend('cpu', { log: () => undefined });
  server = createServer((req, res) => {
    if (!files) return res.writeHead(503).end();
    if (req.url === '/model.json')
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(files.modelJson);
    else if (req.url === '/weights.bin')
      res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'close' }).end(files.weights);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function loadStock(dtype: ServedDtype, a: ModelArtifact): Promise<{ model: tf.LayersModel; bytes: number }> {
  const served = servedModelFiles(a, dtype);
  files = { modelJson: JSON.stringify(served.modelJson), weights: served.weights };
  return { model: await tf.loadLayersModel(`${base}/model.json`), bytes: served.weights.byteLength };
}

describe('served model compression', () => {
  it.each([
    ['uint16', 65_535, 0.51],
    ['uint8', 255, 0.26],
  ] as const)(
    '%s: stock tf.loadLayersModel dequantizes it within half a step per tensor, at the expected size',
    async (dtype, top, ratio) => {
      const a = artifact();
      const { model, bytes } = await loadStock(dtype, a);
      expect(bytes / a.weights.byteLength).toBeLessThanOrEqual(ratio);
      const loaded = getFlatWeights(model);
      let at = 0;
      for (const spec of a.weightSpecs) {
        const size = spec.shape.reduce((x, y) => x * y, 1);
        const values = a.weights.subarray(at, at + size);
        const range = Math.max(0, ...values) - Math.min(0, ...values);
        for (let i = at; i < at + size; i++) {
          // Half a step, plus float32 rounding of the dequantized value.
          expect(Math.abs(loaded[i] - a.weights[i])).toBeLessThanOrEqual(
            range / top / 2 + 1e-6 * Math.abs(a.weights[i]) + 1e-7,
          );
          // Zero biases stay exactly zero: 0 is a level.
          if (a.weights[i] === 0) expect(loaded[i]).toBe(0);
        }
        at += size;
      }
      model.dispose();
    },
  );

  it('float32 loads bit-exactly', async () => {
    const a = artifact();
    const { model, bytes } = await loadStock('float32', a);
    expect(bytes).toBe(a.weights.byteLength);
    expect(getFlatWeights(model)).toEqual(a.weights);
    model.dispose();
  });

  it('a pruned uint8 copy keeps its zeros through stock loading and predicts like the pruned float32 model', async () => {
    const a = artifact();
    const { weights, zeroFraction } = pruneByMagnitude(a.weights, a.weightSpecs, 0.5);
    // Kernels only: 24 of the 48 + 12 of the 24 kernel weights; the 11 biases were already zero.
    expect(zeroFraction).toBeCloseTo((24 + 12 + 11) / 83, 10);
    const pruned = { ...a, weights };
    const { model } = await loadStock('uint8', pruned);
    const loaded = getFlatWeights(model);
    for (let i = 0; i < weights.length; i++) if (weights[i] === 0) expect(loaded[i]).toBe(0);
    const reference = await tf.models.modelFromJSON({
      modelTopology: a.modelTopology as tf.io.ModelJSON['modelTopology'],
    });
    setFlatWeights(reference, weights);
    const x = tf.randomNormal([16, 6], 0, 1, 'float32', 3);
    const want = (reference.predict(x) as tf.Tensor).arraySync() as number[][];
    const got = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    want.forEach((row, r) => row.forEach((p, c) => expect(Math.abs(got[r][c] - p)).toBeLessThan(0.05)));
    [x, model, reference].forEach((t) => t.dispose());
  });

  it('prunes exactly the requested fraction of each kernel, smallest magnitudes first', () => {
    const specs = [
      { name: 'k', shape: [2, 4] },
      { name: 'b', shape: [4] },
    ];
    const w = Float32Array.from([0.5, -0.1, 0.3, -0.7, 0.2, 0.9, -0.2, 0.05, 0.01, 0.02, 0.03, 0.04]);
    const { weights } = pruneByMagnitude(w, specs, 0.5);
    expect([...weights]).toEqual([0.5, 0, 0.3, -0.7, 0, 0.9, 0, 0, 0.01, 0.02, 0.03, 0.04].map(Math.fround));
  });

  it('breaks ties at the threshold in index order, so exactly the fraction asked is zeroed', () => {
    const specs = [{ name: 'k', shape: [2, 3] }];
    // cut = 3; the threshold is 0.1, held by four weights: the first two ties go (after the one below it).
    const w = Float32Array.from([0.1, -0.1, 0.05, 0.1, 0.1, 0.5]);
    expect([...pruneByMagnitude(w, specs, 0.5).weights]).toEqual([0, 0, 0, 0.1, 0.1, 0.5].map(Math.fround));
    // A weight already zero counts as pruned; ties are then taken after it.
    const z = Float32Array.from([0, 0.2, 0.2, 0.2, 0.2, 0.2]);
    expect([...pruneByMagnitude(z, specs, 0.5).weights]).toEqual([0, 0, 0, 0.2, 0.2, 0.2].map(Math.fround));
  });

  it('zeroes weights below the threshold before any tie, and only ties after them', () => {
    const specs = [{ name: 'k', shape: [2, 3] }];
    // cut = 3, threshold 0.1: the two smaller weights go first, then the first tie.
    const below = Float32Array.from([0.1, 0.1, 0.05, 0.02, 0.3, 0.5]);
    expect([...pruneByMagnitude(below, specs, 0.5).weights]).toEqual([0, 0.1, 0, 0, 0.3, 0.5].map(Math.fround));
    // A larger weight before the ties is kept.
    const larger = Float32Array.from([0.5, 0.1, 0.05, 0.1, 0.3, 0.2]);
    expect([...pruneByMagnitude(larger, specs, 0.5).weights]).toEqual([0.5, 0, 0, 0, 0.3, 0.2].map(Math.fround));
    // Threshold 0 (enough zeros already): nothing more is zeroed.
    const zeros = Float32Array.from([0, 0, 0, 0.5]);
    expect([...pruneByMagnitude(zeros, [{ name: 'k', shape: [2, 2] }], 0.5).weights]).toEqual([0, 0, 0, 0.5]);
  });

  it('sparsity 0 and a kernel too small for one cut leave every weight, in a copy', () => {
    const specs = [{ name: 'k', shape: [1, 3] }];
    const w = Float32Array.from([0.3, -0.2, 0.1]);
    for (const sparsity of [0, 0.3]) {
      const { weights, zeroFraction } = pruneByMagnitude(w, specs, sparsity);
      expect([...weights]).toEqual([...w]);
      expect(weights).not.toBe(w);
      expect(zeroFraction).toBe(0);
    }
    pruneByMagnitude(w, specs, 0.34).weights.fill(7);
    expect([...w]).toEqual([0.3, -0.2, 0.1].map(Math.fround));
    expect(() => pruneByMagnitude(w, specs, -0.1)).toThrow('sparsity must be in [0, 1), got -0.1');
  });

  it('stores each tensor on an affine grid with 0 as a level, little-endian for uint16', () => {
    const a = tinyArtifact([-1, 0, 3], [0, 0, 0]);
    const u8 = servedModelFiles(a, 'uint8');
    const scale = 4 / 255;
    const min = -Math.round(1 / scale) * scale;
    expect(u8.modelJson.weightsManifest[0].weights.map((e) => (e as { quantization?: unknown }).quantization)).toEqual([
      { dtype: 'uint8', scale, min },
      { dtype: 'uint8', scale: 1, min: 0 },
    ]);
    expect([...u8.weights]).toEqual([0, 64, 255, 0, 0, 0]);
    const u16 = servedModelFiles(a, 'uint16');
    expect(u16.weights.byteLength).toBe(12);
    const view = new DataView(u16.weights.buffer, u16.weights.byteOffset, u16.weights.byteLength);
    const zero = Math.round(1 / (4 / 65_535));
    expect([0, 1, 2, 3].map((i) => view.getUint16(2 * i, true))).toEqual([0, zero, 65_535, 0]);
  });

  it('clamps a level that rounds past the top of the grid', () => {
    // lo -1, hi 509: scale 2, zero level round(0.5) = 1, so 509 maps to 255.5 and rounds to 256.
    const u8 = servedModelFiles(tinyArtifact([-1, 0, 509], [0, 0, 0]), 'uint8');
    expect([...u8.weights.subarray(0, 3)]).toEqual([1, 1, 255]);
  });

  it("float32 files hold exactly the artifact's bytes, also when its weights are a view into a larger buffer", () => {
    const a = tinyArtifact([-1, 0, 3], [0.5, 0, 0]);
    const big = new Float32Array(10);
    big.set(a.weights, 2);
    const files = servedModelFiles({ ...a, weights: big.subarray(2, 8) }, 'float32');
    expect(files.weights.byteLength).toBe(24);
    expect([...new Float32Array(files.weights.buffer, files.weights.byteOffset, 6)]).toEqual([...a.weights]);
  });

  it('refuses a sparsity outside [0, 1) and non-finite weights', () => {
    const a = artifact();
    expect(() => pruneByMagnitude(a.weights, a.weightSpecs, 1)).toThrow(/sparsity must be in \[0, 1\), got 1/);
    expect(() => pruneByMagnitude(a.weights, a.weightSpecs, Number.NaN)).toThrow(/sparsity/);
    const broken = a.weights.slice();
    broken[5] = Number.NaN;
    expect(() => servedModelFiles({ ...a, weights: broken }, 'uint8')).toThrow(/weights\[5\] is NaN/);
    const first = a.weights.slice();
    first[0] = Number.POSITIVE_INFINITY;
    expect(() => servedModelFiles({ ...a, weights: first }, 'float32')).toThrow(
      'weights[0] is Infinity; only finite weights can be served',
    );
  });
});
