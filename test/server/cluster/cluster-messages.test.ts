import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, type ClusterMessage } from '../../../server/cluster/cluster-messages.js';

const partial: ClusterMessage = {
  kind: 'partial',
  round: 2,
  token: 3,
  node: 'n1',
  forwarded: 'mean',
  contributors: 1,
  weight: 5,
  loss: 0.25,
  accuracy: 0.5,
  refused: 0,
  updateBytes: 16,
};

describe('cluster message frames', () => {
  it('carry a header and one float32 vector, read back exactly', () => {
    const vector = Float32Array.from([0.5, -1, 3e-8, 7]);
    const frame = encodeFrame({ message: partial, vector });
    expect(frame.byteLength).toBe(4 + Buffer.byteLength(JSON.stringify(partial)) + 16);
    const decoded = decodeFrame(frame);
    expect(decoded.message).toEqual(partial);
    expect(decoded.vector).toEqual(vector);
    // Unaligned in a larger buffer (as Redis may hand it over): still read right.
    const shifted = Buffer.concat([Buffer.alloc(1), frame]).subarray(1);
    expect(decodeFrame(shifted).vector).toEqual(vector);
    expect(decodeFrame(encodeFrame({ message: { kind: 'queued' } }))).toEqual({ message: { kind: 'queued' } });
  });

  it('are refused, naming why, when torn, not JSON, not a known message, or with a ragged vector', () => {
    expect(() => decodeFrame(Buffer.alloc(2))).toThrow(/has no header/);
    const frame = encodeFrame({ message: partial });
    expect(() => decodeFrame(frame.subarray(0, frame.byteLength - 1))).toThrow(/overruns the frame/);
    const notJson = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from('{x}')]);
    expect(() => decodeFrame(notJson)).toThrow(/not JSON/);
    expect(() => decodeFrame(encodeFrame({ message: { ...partial, token: -1 } }))).toThrow(
      /invalid cluster message[\s\S]*token/,
    );
    expect(() => decodeFrame(Buffer.concat([frame, Buffer.alloc(3)]))).toThrow(/not whole float32 values/);
    expect(() => decodeFrame(encodeFrame({ message: { ...partial, accuracy: 1.5 } }))).toThrow(/accuracy/);
    expect(() => decodeFrame(encodeFrame({ message: { ...partial, weight: 2.5 } }))).toThrow(/weight/);
  });

  it('keep a partial the same size whatever the number of clients behind it: counts and sums, no client list', () => {
    const many = { ...partial, contributors: 3_000, weight: 3_000_000_000, refused: 12, updateBytes: 94_200_000 };
    const header = (m: ClusterMessage) => encodeFrame({ message: m }).byteLength;
    expect(header(many) - header(partial)).toBeLessThan(24);
    expect(header(many)).toBeLessThan(256);
    expect(() =>
      decodeFrame(encodeFrame({ message: { ...partial, contributions: [{ clientId: 'a' }] } as never })),
    ).toThrow(/invalid cluster message/);
  });

  it('carry opaque bytes for relays, forwarded messages and masked sums, and never mix the two kinds of binary part', () => {
    const sum: ClusterMessage = {
      kind: 'masked-partial',
      round: 2,
      token: 3,
      node: 'n2',
      clientIds: ['a', 'b'],
      updateBytes: 24,
    };
    const bytes = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const shifted = Buffer.concat([Buffer.alloc(1), encodeFrame({ message: sum, bytes })]).subarray(1);
    const decoded = decodeFrame(shifted);
    expect(decoded).toEqual({ message: sum, bytes });
    expect(decoded.bytes!.byteOffset % 4).toBe(0);
    expect(() => encodeFrame({ message: sum, vector: Float32Array.from([1]) })).toThrow(
      'a masked-partial message carries bytes',
    );
    expect(() => encodeFrame({ message: partial, bytes })).toThrow('a partial message carries a float32 vector');
  });
});
