import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileClientAudit } from '../../client/secagg-audit.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { nextRounds, tempDir } from './helpers.js';
import {
  saveSmallMnistModel,
  startSecureClient,
  startSecureCoordinator,
  type SecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * Audit mode: the coordinator records every payload of a secure round, each client its own
 * plaintext. From those files alone: what the coordinator received from any one client is
 * statistically independent of that client's update, and the unmasked aggregate is still exactly
 * the weighted FedAvg of the updates (within the encoding's bound).
 */

const M = 7850;
const SLOTS = 2;
const WORDS = M + SLOTS + 1;
const CLIP = 1;
const NAMES = ['a0', 'a1', 'a2', 'a3'];

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: SecureCoordinator;
let cs: SecureTestClient[] = [];

beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
  dir = await tempDir();
  const model = await saveSmallMnistModel(dir.path);
  server = await startSecureCoordinator(join(dir.path, 'data'), model, 4, {
    rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 },
    secureAggregation: { auditDir: join(dir.path, 'audit') },
  });
  const done = nextRounds(server, 1);
  cs = NAMES.map((name, i) =>
    startSecureClient(server.url, i, name, { secAggAudit: fileClientAudit(join(dir.path, name), name) }),
  );
  const [record] = await done;
  expect(record.status, record.reason).toBe('committed');
}, 60_000);

afterAll(async () => {
  await Promise.all(cs.map((c) => c.stop()));
  await server?.close();
  await dir?.remove();
});

const read = async (...path: string[]) => new Uint8Array(await readFile(join(dir.path, ...path)));
const float32s = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const uint32s = (bytes: Uint8Array) => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);

function correlation(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/** How far uniform 32-bit words are from looking uniform, in standard deviations: mean, every bit, byte histogram. */
function uniformityZ(words: Uint32Array): { mean: number; worstBit: number; bytes: number } {
  const n = words.length;
  let sum = 0;
  const ones = new Array<number>(32).fill(0);
  const histogram = new Array<number>(256).fill(0);
  for (const w of words) {
    sum += w / 2 ** 32;
    for (let b = 0; b < 32; b++) ones[b] += (w >>> b) & 1;
    for (let k = 0; k < 4; k++) histogram[(w >>> (8 * k)) & 255]++;
  }
  const expected = (4 * n) / 256;
  const chi2 = histogram.reduce((s, h) => s + (h - expected) ** 2 / expected, 0);
  return {
    mean: Math.abs(sum / n - 0.5) / Math.sqrt(1 / 12 / n),
    worstBit: Math.max(...ones.map((o) => Math.abs(o / n - 0.5) / Math.sqrt(0.25 / n))),
    bytes: (chi2 - 255) / Math.sqrt(2 * 255),
  };
}

describe('audit mode', () => {
  it('records every payload: the roster, each stage message of each client, the masked inputs and the outcome', async () => {
    const setup = JSON.parse(await readFile(join(dir.path, 'audit', 'round-1', 'setup.json'), 'utf8')) as {
      setup: { participants: { id: string }[]; vectorLength: number };
    };
    expect(setup.setup.participants.map((p) => p.id)).toEqual(NAMES);
    expect(setup.setup.vectorLength).toBe(M + SLOTS);
    const lines = (await readFile(join(dir.path, 'audit', 'round-1', 'received.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { from: string; type: string; masked?: { file: string } });
    for (const type of ['secagg/advertise-keys', 'secagg/share-keys', 'secagg/masked-input']) {
      expect(
        lines
          .filter((l) => l.type === type)
          .map((l) => l.from)
          .sort(),
        type,
      ).toEqual(NAMES);
    }
    expect(lines.filter((l) => l.type === 'secagg/unmask').length).toBeGreaterThanOrEqual(3);
    expect(lines.find((l) => l.from === 'a2' && l.masked)?.masked?.file).toBe('masked-input-a2.bin');
    const outcome = JSON.parse(await readFile(join(dir.path, 'audit', 'round-1', 'outcome.json'), 'utf8')) as {
      kind: string;
      survivors: string[];
    };
    expect(outcome).toMatchObject({ kind: 'done', survivors: NAMES });
  });

  it.each(NAMES)(
    'what the coordinator received from %s is independent of its update: correlation ~0, uniform-looking words',
    async (name) => {
      const update = float32s(await read(name, 'round-1-update.bin'));
      const encoded = uint32s(await read(name, 'round-1-encoded.bin'));
      const received = uint32s(await read('audit', 'round-1', `masked-input-${name}.bin`));
      expect(update).toHaveLength(M + SLOTS);
      expect(received).toHaveLength(WORDS);
      // 6 standard deviations: a false alarm about once in 10^9 runs per check.
      const bound = 6 / Math.sqrt(M);
      expect(Math.abs(correlation(update, received, M))).toBeLessThan(bound);
      expect(
        Math.abs(correlation(new Int32Array(encoded.buffer), new Int32Array(received.buffer), WORDS)),
      ).toBeLessThan(bound);
      const z = uniformityZ(received);
      expect(z.mean).toBeLessThan(6);
      expect(z.worstBit).toBeLessThan(6);
      expect(z.bytes).toBeLessThan(6);
      // The same checks see through the encoding alone: without the masks they would fail.
      const plain = uniformityZ(encoded);
      expect(Math.max(plain.worstBit, plain.bytes)).toBeGreaterThan(100);
    },
  );

  it('while the unmasked aggregate is the weighted FedAvg of the audited updates within the recorded bound', async () => {
    const outcome = JSON.parse(await readFile(join(dir.path, 'audit', 'round-1', 'outcome.json'), 'utf8')) as {
      errorBound: number;
      totalWeight: number;
    };
    const aggregate = float32s(await read('audit', 'round-1', 'aggregate.bin'));
    const expected = new Float64Array(M);
    let total = 0;
    for (const name of NAMES) {
      const { numExamples } = JSON.parse(await readFile(join(dir.path, name, 'round-1.json'), 'utf8')) as {
        numExamples: number;
      };
      const update = float32s(await read(name, 'round-1-update.bin'));
      total += numExamples;
      for (let i = 0; i < M; i++) expected[i] += numExamples * Math.max(-CLIP, Math.min(CLIP, update[i]));
    }
    expect(outcome.totalWeight).toBe(total);
    expect(outcome.errorBound).toBeLessThan(1e-6);
    for (let i = 0; i < M; i++) {
      const exact = expected[i] / total;
      expect(Math.abs(aggregate[i] - exact), `coordinate ${i}`).toBeLessThanOrEqual(
        outcome.errorBound + 2 ** -24 * Math.abs(exact),
      );
    }
  });
});
