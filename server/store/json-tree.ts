/**
 * Checkpoint metadata and state are JSON trees; state may also hold Float32Array leaves
 * (optimizer moments and the like), which are stored as binary, never as JSON number arrays.
 * Encoding replaces each Float32Array with null and records where it was; decoding puts it back.
 */
export type StateValue = null | boolean | number | string | Float32Array | StateValue[] | { [key: string]: StateValue };
export type CheckpointState = { [key: string]: StateValue };

export type JsonPath = (string | number)[];

/** Where one Float32Array of the state lives: its place in the tree and its bytes in state.bin. */
export interface StateArrayEntry {
  path: JsonPath;
  byteOffset: number;
  length: number;
}

export interface EncodedState {
  json: Record<string, unknown>;
  arrays: StateArrayEntry[];
  data: Uint8Array;
}

function describe(path: JsonPath): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${p}`), '');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Copies `value` as a JSON tree, calling `onArray` for each Float32Array (whose return value takes
 * its place). Throws, naming the path, on anything JSON cannot hold exactly (NaN, undefined, ...).
 */
function toJsonTree(
  value: unknown,
  path: JsonPath,
  root: string,
  onArray: (a: Float32Array, path: JsonPath) => unknown,
): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new Error(`${root}${describe(path)} is ${value}; checkpoint values must be finite`);
    return value;
  }
  if (value instanceof Float32Array) return onArray(value, path);
  if (Array.isArray(value)) return value.map((v, i) => toJsonTree(v, [...path, i], root, onArray));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJsonTree(v, [...path, k], root, onArray);
    return out;
  }
  const kind = value === undefined ? 'undefined' : (value.constructor?.name ?? typeof value);
  throw new Error(
    `${root}${describe(path)} is ${kind}; only JSON values${root === 'state' ? ' and Float32Array' : ''} can be checkpointed`,
  );
}

/** Validates that metadata is plain JSON (no binary, no NaN) and returns a copy. */
export function metadataToJson(metadata: object): Record<string, unknown> {
  if (!isPlainObject(metadata)) throw new Error('metadata must be a plain object');
  return toJsonTree(metadata, [], 'metadata', (_a, path) => {
    throw new Error(`metadata${describe(path)} is a Float32Array; binary data belongs in state`);
  }) as Record<string, unknown>;
}

export function encodeState(state: CheckpointState): EncodedState {
  if (!isPlainObject(state)) throw new Error('state must be a plain object');
  const arrays: StateArrayEntry[] = [];
  const parts: Float32Array[] = [];
  let byteOffset = 0;
  const json = toJsonTree(state, [], 'state', (a, path) => {
    arrays.push({ path, byteOffset, length: a.length });
    parts.push(a);
    byteOffset += a.byteLength;
    return null;
  }) as Record<string, unknown>;
  const data = new Uint8Array(byteOffset);
  let off = 0;
  for (const a of parts) {
    data.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return { json, arrays, data };
}

/** Inverse of encodeState; throws, naming the entry, when the manifest does not fit the data. */
export function decodeState(
  json: Record<string, unknown>,
  arrays: readonly StateArrayEntry[],
  data: Uint8Array,
): CheckpointState {
  const tree = structuredClone(json);
  for (const entry of arrays) {
    const where = `state${describe(entry.path)}`;
    const end = entry.byteOffset + entry.length * 4;
    if (entry.byteOffset % 4 !== 0 || end > data.length) {
      throw new Error(`${where}: bytes ${entry.byteOffset}..${end} do not fit state.bin (${data.length} bytes)`);
    }
    if (entry.path.length === 0) throw new Error('state manifest has an entry with an empty path');
    let parent: unknown = tree;
    for (const key of entry.path.slice(0, -1)) parent = (parent as Record<string | number, unknown> | null)?.[key];
    const last = entry.path[entry.path.length - 1];
    const container = parent as Record<string | number, unknown> | null | undefined;
    if (typeof container !== 'object' || container === null || container[last] !== null) {
      throw new Error(`${where}: the state tree has no placeholder there`);
    }
    // Copy out (Buffer#slice would be a view) so the array is aligned and owns its memory.
    const bytes = new Uint8Array(end - entry.byteOffset);
    bytes.set(data.subarray(entry.byteOffset, end));
    container[last] = new Float32Array(bytes.buffer);
  }
  return tree as CheckpointState;
}
