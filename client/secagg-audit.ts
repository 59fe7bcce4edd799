import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientAudit } from '../shared/secagg/index.js';

/**
 * Audit mode on a client (Node only): the plaintext this client fed to secure aggregation in
 * every round, to compare with what the coordinator recorded. Under `<dir>/`, per round:
 *   round-<n>.json          client name, example count, vector length (model delta, then the slots)
 *   round-<n>-update.bin    the vector before encoding (float32: delta after clipping for DP, then slot values scaled)
 *   round-<n>-encoded.bin   the fixed-point words before masking (uint32, LE; the last is the weight)
 */
export function fileClientAudit(dir: string, name?: string): ClientAudit {
  mkdirSync(dir, { recursive: true });
  return {
    plaintext({ round, delta, numExamples, encoded }) {
      writeFileSync(
        join(dir, `round-${round}-update.bin`),
        new Uint8Array(delta.buffer, delta.byteOffset, delta.byteLength),
      );
      writeFileSync(
        join(dir, `round-${round}-encoded.bin`),
        new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength),
      );
      const summary = {
        round,
        ...(name ? { client: name } : {}),
        numExamples,
        vectorLength: delta.length,
        update: `round-${round}-update.bin`,
        encoded: `round-${round}-encoded.bin`,
      };
      writeFileSync(join(dir, `round-${round}.json`), `${JSON.stringify(summary, null, 2)}\n`);
    },
  };
}
