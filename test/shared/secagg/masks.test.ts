import { describe, expect, it } from 'vitest';
import { int32View } from '../../../shared/secagg/masks.js';

describe('int32View', () => {
  it('reads the words of a Node Buffer at an unaligned offset (socket.io delivers those)', () => {
    const pool = Buffer.alloc(3 + 8);
    const bytes = pool.subarray(3);
    bytes.set(new Uint8Array(new Int32Array([-2, 7]).buffer));
    expect(bytes.byteOffset % 4).not.toBe(0);
    expect(Array.from(int32View(bytes, 2))).toEqual([-2, 7]);
  });

  it('is a view, not a copy, when the bytes are aligned', () => {
    const bytes = new Uint8Array(new Int32Array([5, -6, 7]).buffer, 4);
    const view = int32View(bytes, 2);
    expect(Array.from(view)).toEqual([-6, 7]);
    expect(view.buffer).toBe(bytes.buffer);
  });
});
