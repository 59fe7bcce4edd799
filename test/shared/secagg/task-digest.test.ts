import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../../shared/secagg/kdf.js';
import { TASK_DIGEST_BYTES, taskDigest } from '../../../shared/secagg/task-digest.js';

const weights = Uint8Array.from([1, 2, 3, 4, 5]);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The digest's format written out independently: framed label, framed canonical JSON, weight count, weights. */
function expectedDigest(canonicalJson: string, w: Uint8Array): string {
  const framed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const weightCount = Buffer.alloc(4);
  weightCount.writeUInt32BE(w.length);
  return createHash('sha512')
    .update(
      Buffer.concat([
        framed(Buffer.from(LABELS.task)),
        framed(Buffer.from(canonicalJson)),
        weightCount,
        Buffer.from(w),
      ]),
    )
    .digest('hex')
    .slice(0, 2 * TASK_DIGEST_BYTES);
}

describe('taskDigest', () => {
  it('hashes the canonical JSON (sorted keys, no undefined, bytes as padded hex) and the framed weights', () => {
    const task = {
      z: [1, 'two', null, true, { b: 2, a: 1 }],
      model: Uint8Array.from([0x01, 0xab, 0x00]),
      absent: undefined,
      aa: { y: -0.5, x: 'é' },
      a: 3,
    };
    const json = '{"a":3,"aa":{"x":"é","y":-0.5},"model":{"$bytes":"01ab00"},"z":[1,"two",null,true,{"a":1,"b":2}]}';
    const digest = taskDigest(task, weights);
    expect(digest).toBeInstanceOf(Uint8Array);
    expect(digest.length).toBe(32);
    expect(hex(digest)).toBe(expectedDigest(json, weights));
    expect(hex(taskDigest(null, new Uint8Array(0)))).toBe(expectedDigest('null', new Uint8Array(0)));
    expect(hex(taskDigest([], weights))).toBe(expectedDigest('[]', weights));
  });

  it('is the same for the same task whatever its key order', () => {
    const keys = ['delta', 'alpha', 'charlie', 'bravo', 'echo'];
    const build = (order: string[]) => Object.fromEntries(order.map((k) => [k, k.length]));
    const reference = hex(taskDigest(build(keys), weights));
    for (const order of [[...keys].sort(), [...keys].reverse(), ['charlie', 'echo', 'alpha', 'delta', 'bravo']]) {
      expect(hex(taskDigest(build(order), weights))).toBe(reference);
    }
  });

  it('differs when anything the update depends on differs', () => {
    const task = { lr: 0.1, rounds: [1, 2], model: Uint8Array.from([0x12, 0x03]) };
    const base = hex(taskDigest(task, weights));
    const others = [
      taskDigest({ ...task, lr: 0.2 }, weights),
      taskDigest({ ...task, rounds: [2, 1] }, weights),
      // Unpadded hex would make these two the same "123".
      taskDigest({ ...task, model: Uint8Array.from([0x01, 0x23]) }, weights),
      taskDigest({ ...task, model: [0x12, 0x03] }, weights),
      taskDigest({ ...task, extra: null }, weights),
      taskDigest(task, Uint8Array.from([1, 2, 3, 4, 6])),
      taskDigest(task, weights.subarray(0, 4)),
    ].map(hex);
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('refuses a number JSON cannot carry, wherever it is', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(() => taskDigest({ a: { b: [1, bad] } }, weights)).toThrow(
        new Error(`a task digest cannot cover the number ${bad}`),
      );
    }
  });
});
