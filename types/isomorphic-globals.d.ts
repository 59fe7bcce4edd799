/// <reference path="./wasm-webcrypto.d.ts" />
// The runtime globals that shared/ may use: each exists in Node >= 20 and in current browsers.
// tsconfig.shared.json compiles shared/ against these alone (no DOM lib, no Node types), so code
// that reaches for `document`, `process` or a node: module fails to type-check there. Declared as
// the subsets shared/ calls; the DOM lib and @types/node declare the full APIs elsewhere.

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}

declare function atob(data: string): string;
declare function btoa(data: string): string;
declare function setTimeout(callback: () => void, ms?: number): unknown;

declare const console: {
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};

declare const performance: { now(): number };

interface Crypto {
  getRandomValues<T extends ArrayBufferView>(array: T): T;
  readonly subtle: SubtleCrypto;
}

// var, not const: shared/ reads it as globalThis.crypto.
declare var crypto: Crypto;
