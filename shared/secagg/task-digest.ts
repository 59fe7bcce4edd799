import { lengthPrefixed, lengthPrefixedText } from './bytes.js';
import { sha512 } from './hash.js';
import { LABELS } from './kdf.js';

/**
 * The digest a client signs into its advertisement: everything its update depends on (the global
 * weights, the training config, privacy instructions, the secure-aggregation setup and slots).
 * Neighbours compare digests before sharing keys, so a coordinator that sends one client another
 * model or config than its neighbours (Pasquini et al., CCS 2022) is refused by them.
 */
export const TASK_DIGEST_BYTES = 32;

/** JSON with sorted keys and binary leaves as tagged hex, so equal values always give equal text. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

function hex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

function canonicalJson(value: unknown): string {
  if (value instanceof Uint8Array) return JSON.stringify({ $bytes: hex(value) });
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new Error(`a task digest cannot cover the number ${value}`);
  return JSON.stringify(value);
}

/** SHA-512 (first 32 bytes) over the task's canonical JSON and the raw bytes of the weights it trains. */
export function taskDigest(task: unknown, weights: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(canonicalJson(task));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, weights.length);
  return sha512([lengthPrefixedText(LABELS.task), lengthPrefixed(text), length, weights]).slice(0, TASK_DIGEST_BYTES);
}
