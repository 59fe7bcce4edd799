import { describe, expect, it } from 'vitest';
import { SecureTrainSectionSchema, type SecureSlot } from '../../../shared/protocol/secagg-messages.js';
import { packSecureVector, secureVectorLength, unpackSecureVector } from '../../../shared/protocol/secagg-vector.js';

const slots: SecureSlot[] = [
  { kind: 'loss', range: 100 },
  { kind: 'accuracy', range: 1 },
];

describe('secure vector layout', () => {
  it('puts the slots after the delta, scaled so that [-range, range] becomes [-clip, clip], and back', () => {
    const delta = Float32Array.from([0.5, -0.25, 2]);
    const vector = packSecureVector(delta, slots, { loss: 50, accuracy: 0.75 }, 2);
    expect(vector).toHaveLength(secureVectorLength(3, slots));
    expect(Array.from(vector)).toEqual([0.5, -0.25, 2, 1, 1.5]);
    const { delta: back, values } = unpackSecureVector(vector, 3, slots, 2);
    expect(back).toEqual(delta);
    expect(values).toEqual({ loss: 50, accuracy: 0.75 });
  });

  it('refuses a missing or non-finite slot value and a vector of the wrong length', () => {
    expect(() => packSecureVector(new Float32Array(2), slots, { loss: 1 }, 1)).toThrow(
      "secure slot 'accuracy' needs a finite value, got undefined",
    );
    expect(() => packSecureVector(new Float32Array(2), slots, { loss: Number.NaN, accuracy: 1 }, 1)).toThrow(
      /'loss' needs a finite value/,
    );
    expect(() => unpackSecureVector(new Float32Array(4), 3, slots, 1)).toThrow(
      'a secure vector with 2 slots for 3 parameters has 5 values, got 4',
    );
  });

  it('a training task refuses repeated slot kinds', () => {
    const parsed = SecureTrainSectionSchema.shape.slots.safeParse([slots[0], slots[0]]);
    expect(parsed.success).toBe(false);
  });
});
