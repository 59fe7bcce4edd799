import type { WeightSpec } from '../../shared/model/weights.js';
import { tfjsModelJson, type ModelArtifact, type TfjsModelJson } from './tfjs-model-json.js';

/**
 * Smaller copies of a model for serving and download: weights stored as uint8 or uint16 with
 * tfjs's standard `quantization` fields in the weightsManifest ({dtype, scale, min}, value =
 * q x scale + min), which stock `tf.loadLayersModel` dequantizes on load; and magnitude pruning,
 * which zeroes the smallest kernel weights (zeros stay exactly zero through quantization).
 */

export type ServedDtype = 'float32' | 'uint16' | 'uint8';
export const SERVED_DTYPES: readonly ServedDtype[] = ['float32', 'uint16', 'uint8'];

export interface ServedFiles {
  modelJson: TfjsModelJson;
  /** The single weights file model.json names. */
  weights: Uint8Array;
}

interface Quantization {
  dtype: 'uint8' | 'uint16';
  scale: number;
  min: number;
}

function sizeOf(spec: WeightSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

/**
 * Affine parameters for one tensor: its range widened to include 0, and min moved onto the grid
 * so that 0 is a level exactly (pruned weights and zero biases decode to 0, not to +-scale/2).
 */
function affine(values: Float32Array, dtype: 'uint8' | 'uint16'): Quantization {
  const top = dtype === 'uint8' ? 255 : 65_535;
  let lo = 0;
  let hi = 0;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi === lo) return { dtype, scale: 1, min: 0 };
  const scale = (hi - lo) / top;
  const zero = Math.round(-lo / scale);
  return { dtype, scale, min: -zero * scale };
}

/** model.json + weights file of `artifact` with its weights stored as `dtype`; weights must be finite. */
export function servedModelFiles(
  artifact: ModelArtifact,
  dtype: ServedDtype,
  weightsPath = 'weights.bin',
): ServedFiles {
  const bad = artifact.weights.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`weights[${bad}] is ${artifact.weights[bad]}; only finite weights can be served`);
  const modelJson = tfjsModelJson(artifact, weightsPath);
  if (dtype === 'float32') {
    const w = artifact.weights;
    return { modelJson, weights: new Uint8Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength)) };
  }
  const bytesPer = dtype === 'uint8' ? 1 : 2;
  const top = dtype === 'uint8' ? 255 : 65_535;
  const out = new Uint8Array(artifact.weights.length * bytesPer);
  const view = new DataView(out.buffer);
  const quantizations: Quantization[] = [];
  let at = 0;
  for (const spec of artifact.weightSpecs) {
    const values = artifact.weights.subarray(at, at + sizeOf(spec));
    const q = affine(values, dtype);
    for (let i = 0; i < values.length; i++) {
      const level = Math.max(0, Math.min(top, Math.round((values[i] - q.min) / q.scale)));
      if (bytesPer === 1) out[at + i] = level;
      else view.setUint16(2 * (at + i), level, true);
    }
    quantizations.push(q);
    at += values.length;
  }
  const group = modelJson.weightsManifest[0];
  group.weights = group.weights.map((entry, t) => ({ ...entry, quantization: quantizations[t] }));
  return { modelJson, weights: out };
}

/**
 * Zeroes, in every tensor of rank >= 2 (kernels; biases are few and matter), the fraction
 * `sparsity` of its weights smallest in magnitude. Returns a copy and the fraction of all
 * parameters that are zero afterwards.
 */
export function pruneByMagnitude(
  weights: Float32Array,
  specs: readonly WeightSpec[],
  sparsity: number,
): { weights: Float32Array; zeroFraction: number } {
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`sparsity must be in [0, 1), got ${sparsity}`);
  const out = weights.slice();
  let at = 0;
  for (const spec of specs) {
    const size = sizeOf(spec);
    const cut = Math.floor(size * sparsity);
    if (spec.shape.length >= 2 && cut > 0) {
      const tensor = out.subarray(at, at + size);
      const threshold = tensor.map(Math.abs).sort()[cut - 1];
      let zeroed = 0;
      // Exactly `cut` zeroed: ties at the threshold go in index order.
      for (let i = 0; i < size && zeroed < cut; i++) {
        if (Math.abs(tensor[i]) < threshold) {
          tensor[i] = 0;
          zeroed++;
        }
      }
      for (let i = 0; i < size && zeroed < cut; i++) {
        if (tensor[i] !== 0 && Math.abs(tensor[i]) === threshold) {
          tensor[i] = 0;
          zeroed++;
        }
      }
    }
    at += size;
  }
  const zeros = out.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
  return { weights: out, zeroFraction: zeros / out.length };
}
