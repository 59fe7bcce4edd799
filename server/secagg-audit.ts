import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecAggRoundAudit } from './round/secagg-protocol.js';

/**
 * Audit mode on the coordinator: every payload a secure round receives, written as it arrives,
 * so anyone can check what the coordinator saw. Per round, under `<dir>/round-<n>/`:
 *   setup.json              the round's setup (roster with identity keys, nonce, k, t, clip, slots)
 *   received.jsonl          one line per message received: sender, type, time, fields; byte
 *                           fields as base64, masked inputs as a reference to their .bin file
 *   masked-input-<id>.bin   each masked input exactly as received (m + slots + 1 uint32 words, LE)
 *   outcome.json            survivors, dropouts, total weight, error bound, or the abort reason
 *   aggregate.bin           the unmasked mean (float32, delta then slots), for a committed round
 * Writes are synchronous so the record is complete and in order whenever a message is accepted.
 */
export function fileAudit(dir: string): (round: number) => SecAggRoundAudit {
  return (round) => {
    const roundDir = join(dir, `round-${round}`);
    mkdirSync(roundDir, { recursive: true });
    writeFileSync(join(roundDir, 'received.jsonl'), '');
    let seq = 0;
    return {
      setup(section) {
        writeFileSync(join(roundDir, 'setup.json'), `${JSON.stringify(section, bytesAsBase64, 2)}\n`);
      },
      received(sender, message) {
        const entry: Record<string, unknown> = { seq: seq++, at: new Date().toISOString(), from: sender };
        const fields: Record<string, unknown> =
          typeof message === 'object' && message !== null
            ? { ...(message as Record<string, unknown>) }
            : { value: message };
        const masked = fields.masked;
        if (fields.type === 'secagg/masked-input' && masked instanceof Uint8Array) {
          const file = `masked-input-${sender}.bin`;
          writeFileSync(join(roundDir, file), masked);
          fields.masked = { file, bytes: masked.byteLength };
        }
        appendFileSync(join(roundDir, 'received.jsonl'), `${JSON.stringify({ ...entry, ...fields }, bytesAsBase64)}\n`);
      },
      finished(outcome) {
        if (outcome.kind === 'done') {
          const { mean, ...rest } = outcome.result;
          writeFileSync(join(roundDir, 'aggregate.bin'), new Uint8Array(mean.buffer, mean.byteOffset, mean.byteLength));
          writeFileSync(
            join(roundDir, 'outcome.json'),
            `${JSON.stringify({ kind: 'done', ...rest, aggregate: 'aggregate.bin' }, null, 2)}\n`,
          );
        } else {
          writeFileSync(join(roundDir, 'outcome.json'), `${JSON.stringify(outcome, null, 2)}\n`);
        }
      },
    };
  };
}

function bytesAsBase64(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array)
    return { base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  // Buffer.toJSON runs before the replacer sees a Buffer: catch its { type, data } form too.
  if (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return { base64: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}
