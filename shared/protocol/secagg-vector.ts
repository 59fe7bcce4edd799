import type { SecureSlot, SecureSlotKind } from './secagg-messages.js';

/**
 * The vector a client feeds to secure aggregation: its model delta (m values, clipped there to
 * [-clip, clip] per coordinate), then one value per slot, scaled by clip / range so that the
 * slot's [-range, range] uses the same fixed-point grid. Decoding the securely aggregated mean
 * undoes the scaling, so each slot comes out as the (weighted) mean of the clients' values.
 */

export type SlotValues = Partial<Record<SecureSlotKind, number>>;

export function secureVectorLength(modelLength: number, slots: readonly SecureSlot[]): number {
  return modelLength + slots.length;
}

export function packSecureVector(
  delta: Float32Array,
  slots: readonly SecureSlot[],
  values: SlotValues,
  clip: number,
): Float32Array {
  const out = new Float32Array(secureVectorLength(delta.length, slots));
  out.set(delta);
  slots.forEach((slot, i) => {
    const value = values[slot.kind];
    if (value === undefined || !Number.isFinite(value))
      throw new Error(`secure slot '${slot.kind}' needs a finite value, got ${value}`);
    out[delta.length + i] = (value * clip) / slot.range;
  });
  return out;
}

export function unpackSecureVector(
  vector: Float32Array,
  modelLength: number,
  slots: readonly SecureSlot[],
  clip: number,
): { delta: Float32Array; values: SlotValues } {
  if (vector.length !== secureVectorLength(modelLength, slots)) {
    throw new Error(
      `a secure vector with ${slots.length} slots for ${modelLength} parameters has ${modelLength + slots.length} values, got ${vector.length}`,
    );
  }
  const values: SlotValues = {};
  slots.forEach((slot, i) => {
    values[slot.kind] = (vector[modelLength + i] * slot.range) / clip;
  });
  return { delta: vector.slice(0, modelLength), values };
}
