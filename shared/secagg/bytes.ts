/** Byte helpers for the secure-aggregation wire and key-derivation formats. */

/** Masked vectors travel as raw Uint32 words; every format here is little-endian. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN_HOST) {
    throw new Error('secure aggregation needs a little-endian host: masked words are sent as raw bytes');
  }
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** 4-byte big-endian length, then the bytes: concatenations of these cannot be ambiguous. */
export function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** Texts framed so far: a round hashes the same labels and client ids hundreds of times. */
const framedTexts = new Map<string, Uint8Array>();
/** Enough for every id of the largest round; past it the cache starts over rather than grow. */
const FRAMED_TEXT_LIMIT = 8192;

/**
 * lengthPrefixed over the UTF-8 bytes of `text`. The array is shared by every call with the same
 * text (callers only hash or concatenate it): never write to it.
 */
export function lengthPrefixedText(text: string): Uint8Array {
  let framed = framedTexts.get(text);
  if (!framed) {
    if (framedTexts.size >= FRAMED_TEXT_LIMIT) framedTexts.clear();
    framed = lengthPrefixed(utf8.encode(text));
    framedTexts.set(text, framed);
  }
  return framed;
}

/** A non-negative safe integer as 8 big-endian bytes. */
export function uint64(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`expected a non-negative safe integer, got ${value}`);
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / 2 ** 32));
  view.setUint32(4, value >>> 0);
  return out;
}

/** Reads back a sequence of length-prefixed fields; throws if the bytes do not split exactly. */
export function splitLengthPrefixed(bytes: Uint8Array, fields: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  for (let i = 0; i < fields; i++) {
    if (off + 4 > bytes.length) throw new Error(`truncated field ${i}`);
    const len = view.getUint32(off);
    off += 4;
    if (off + len > bytes.length) throw new Error(`field ${i} overruns the message`);
    out.push(bytes.subarray(off, off + len));
    off += len;
  }
  if (off !== bytes.length) throw new Error(`${bytes.length - off} trailing bytes`);
  return out;
}

export function decodeText(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i];
  return acc === 0;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** getRandomValues refuses more than 65,536 bytes per call. */
const RANDOM_CHUNK = 65536;

/** CSPRNG bytes (WebCrypto's getRandomValues, present in browsers and Node 20). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let off = 0; off < length; off += RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(off, Math.min(length, off + RANDOM_CHUNK)));
  }
  return out;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unpadded base64url (RFC 4648 section 5), as JWK keys want it; a table instead of btoa and three regex passes per key. */
export function base64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64URL[v >> 18] + BASE64URL[(v >> 12) & 63] + BASE64URL[(v >> 6) & 63] + BASE64URL[v & 63];
  }
  if (i + 1 === bytes.length) {
    const v = bytes[i] << 16;
    out += BASE64URL[v >> 18] + BASE64URL[(v >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += BASE64URL[v >> 18] + BASE64URL[(v >> 12) & 63] + BASE64URL[(v >> 6) & 63];
  }
  return out;
}
