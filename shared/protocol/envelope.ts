/**
 * One binary envelope per message, so a message costs socket.io exactly one binary attachment
 * however many byte fields it has (socket.io-parser refuses packets with more than 10).
 *
 * Layout: [u32 LE: JSON length L][L bytes of UTF-8 JSON][the byte fields, back to back]. In the
 * JSON each byte field is a placeholder {"$b":[offset, length]}, offsets relative to the start of
 * the byte region; placeholders appear in document order and tile the region exactly.
 *
 * Decoding checks structure only (lengths, placeholders, depth, keys) and returns plain values
 * with Uint8Array leaves: the message's zod schema still validates the content. Isomorphic.
 */

/** A payload that is not a well-formed envelope; the message names the problem. */
export class EnvelopeError extends Error {
  constructor(message: string) {
    super(`envelope: ${message}`);
    this.name = 'EnvelopeError';
  }
}

export interface EnvelopeLimits {
  /** Largest JSON part in bytes. */
  maxJsonBytes: number;
  /** Deepest nesting of arrays and objects in the JSON part, placeholders included (the top level is depth 1). */
  maxDepth: number;
}

declare const holds: unique symbol;
/** An encoded envelope, typed by the message it holds so that an event map can say what travels in it. */
export type Envelope<T> = ArrayBuffer & { readonly [holds]: T };

export const DEFAULT_ENVELOPE_LIMITS: EnvelopeLimits = { maxJsonBytes: 1 << 20, maxDepth: 32 };

const HEADER_BYTES = 4;
/**
 * Byte fields this long or longer decode as views into the payload instead of copies: a masked
 * vector (half a megabyte per client) is added up once and dropped, and copying it first doubled
 * the coordinator's memory traffic. Transports hand over a fresh buffer per message, which
 * nothing else writes to.
 */
export const VIEW_BYTES = 1 << 16;
const UTF8 = new TextEncoder();
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const PLACEHOLDER = '$b';
/** Keys that could reach an object's prototype once decoded values are merged or spread. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Where a walk is in the value: a linked list from the innermost key up, so that descending one
 * level costs one small object rather than a copy of the whole path; spelt out only for an error.
 */
interface Path {
  readonly parent: Path | undefined;
  readonly key: string | number;
  /** Keys from the top level down to this one. */
  readonly depth: number;
}

const child = (parent: Path | undefined, key: string | number): Path => ({
  parent,
  key,
  depth: (parent?.depth ?? 0) + 1,
});

function pathText(path: Path | undefined): string {
  const keys: (string | number)[] = [];
  for (let p = path; p; p = p.parent) keys.unshift(p.key);
  return keys.length === 0
    ? 'the top level'
    : keys
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
        .join('')
        .replace(/^\./, '');
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Packs `value` (JSON-able, with Uint8Array or ArrayBuffer leaves) into one buffer. Throws an
 * EnvelopeError for anything JSON would silently change: non-finite numbers, undefined array
 * items, class instances other than the two binary types, forbidden or reserved keys.
 */
export function encodeEnvelope<T>(value: T, limits: EnvelopeLimits = DEFAULT_ENVELOPE_LIMITS): Envelope<T> {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: unknown, path: Path | undefined): Json => {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new EnvelopeError(`${pathText(path)} is ${v}; only finite numbers travel`);
      return v;
    }
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      // The placeholder nests two levels: an object holding an array.
      if ((path?.depth ?? 0) + 2 > limits.maxDepth)
        throw new EnvelopeError(`${pathText(path)} nests deeper than ${limits.maxDepth} levels`);
      const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : v;
      blobs.push(bytes);
      const placeholder = { [PLACEHOLDER]: [offset, bytes.byteLength] };
      offset += bytes.byteLength;
      return placeholder;
    }
    if (typeof v !== 'object') throw new EnvelopeError(`${pathText(path)} is a ${typeof v}, which JSON cannot carry`);
    // Also stops a cycle.
    if ((path?.depth ?? 0) + 1 > limits.maxDepth)
      throw new EnvelopeError(`${pathText(path)} nests deeper than ${limits.maxDepth} levels`);
    if (Array.isArray(v)) {
      // Array.from visits holes too, which JSON would turn into null.
      return Array.from(v as unknown[], (item, i) => {
        if (item === undefined) throw new EnvelopeError(`${pathText(child(path, i))} is undefined`);
        return walk(item, child(path, i));
      });
    }
    if (!isPlainObject(v))
      throw new EnvelopeError(
        `${pathText(path)} is a ${v.constructor?.name ?? 'non-plain object'}; only plain objects, arrays and Uint8Array/ArrayBuffer travel`,
      );
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(v)) {
      if (FORBIDDEN_KEYS.has(key) || key === PLACEHOLDER)
        throw new EnvelopeError(`${pathText(path)} has the reserved key '${key}'`);
      if (item !== undefined) out[key] = walk(item, child(path, key));
    }
    return out;
  };
  const json = UTF8.encode(JSON.stringify(walk(value, undefined)));
  if (json.byteLength > limits.maxJsonBytes)
    throw new EnvelopeError(`the JSON part has ${json.byteLength} bytes, more than ${limits.maxJsonBytes}`);
  const out = new Uint8Array(HEADER_BYTES + json.byteLength + offset);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, HEADER_BYTES);
  let at = HEADER_BYTES + json.byteLength;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.byteLength;
  }
  // The type records what was encoded; the bytes are those of `out`.
  return out.buffer as Envelope<T>;
}

/** The payload as bytes: socket.io delivers a Buffer in Node and an ArrayBuffer in browsers. */
function payloadBytes(payload: unknown): Uint8Array {
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  // A Node Buffer is a Uint8Array, possibly a window on a larger pooled buffer.
  if (payload instanceof Uint8Array) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new EnvelopeError(
    `the message must be one binary envelope (ArrayBuffer or Uint8Array), got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload}`,
  );
}

/**
 * Refuses JSON nested deeper than `maxDepth` before parsing it: JSON.parse takes seconds on a
 * megabyte of '[' and the walk over the result recurses.
 */
function checkNesting(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new EnvelopeError(`the JSON part nests deeper than ${maxDepth} levels`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

/**
 * Unpacks an envelope into plain values with Uint8Array leaves, or throws an EnvelopeError naming
 * the first problem. Leaves shorter than VIEW_BYTES are copies owning their bytes; longer ones are
 * read-only views into the payload, at whatever alignment it had.
 */
export function decodeEnvelope(payload: unknown, limits: EnvelopeLimits = DEFAULT_ENVELOPE_LIMITS): unknown {
  const bytes = payloadBytes(payload);
  if (bytes.byteLength < HEADER_BYTES)
    throw new EnvelopeError(`${bytes.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES).getUint32(0, true);
  if (jsonLength > limits.maxJsonBytes)
    throw new EnvelopeError(
      `the header announces ${jsonLength} bytes of JSON, more than the limit of ${limits.maxJsonBytes}`,
    );
  if (HEADER_BYTES + jsonLength > bytes.byteLength) {
    throw new EnvelopeError(
      `the header announces ${jsonLength} bytes of JSON but only ${bytes.byteLength - HEADER_BYTES} follow (truncated)`,
    );
  }
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + jsonLength));
  } catch {
    throw new EnvelopeError('the JSON part is not valid UTF-8');
  }
  checkNesting(text, limits.maxDepth);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new EnvelopeError(`the JSON part does not parse: ${(e as Error).message}`);
  }
  const region = bytes.subarray(HEADER_BYTES + jsonLength);
  let cursor = 0;
  const blob = (placeholder: Record<string, unknown>, path: Path | undefined): Uint8Array => {
    const keys = Object.keys(placeholder);
    const span = placeholder[PLACEHOLDER];
    if (
      keys.length !== 1 ||
      !Array.isArray(span) ||
      span.length !== 2 ||
      !span.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
    ) {
      throw new EnvelopeError(
        `${pathText(path)} is a malformed byte placeholder: expected exactly {"${PLACEHOLDER}":[offset, length]} with non-negative integers`,
      );
    }
    const [start, length] = span as [number, number];
    if (start !== cursor)
      throw new EnvelopeError(
        `${pathText(path)} starts at byte ${start} of the byte region, expected ${cursor} (fields must follow each other in order)`,
      );
    if (start + length > region.byteLength)
      throw new EnvelopeError(
        `${pathText(path)} spans bytes ${start}..${start + length}, beyond the ${region.byteLength}-byte region`,
      );
    cursor += length;
    return length < VIEW_BYTES ? region.slice(start, start + length) : region.subarray(start, start + length);
  };
  const walk = (v: unknown, path: Path | undefined): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((item, i) => walk(item, child(path, i)));
    const object = v as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(object, PLACEHOLDER)) return blob(object, path);
    for (const key of Object.keys(object)) {
      if (FORBIDDEN_KEYS.has(key)) throw new EnvelopeError(`${pathText(path)} has the forbidden key '${key}'`);
      object[key] = walk(object[key], child(path, key));
    }
    return object;
  };
  const value = walk(parsed, undefined);
  if (cursor !== region.byteLength)
    throw new EnvelopeError(`${region.byteLength - cursor} byte(s) after the last field (trailing bytes)`);
  return value;
}
