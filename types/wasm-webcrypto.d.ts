// WebAssembly and WebCrypto's SubtleCrypto as globals: Node >= 20 and browsers have them, but only
// the DOM lib declares them and @types/node 20 does not. Shared by tsconfig.shared.json and
// tsconfig.node.json (neither has the DOM lib); declared as the subsets shared/ calls.

interface CryptoKey {
  readonly type: string;
}

interface SubtleCrypto {
  importKey(
    format: 'raw',
    keyData: Uint8Array,
    algorithm: 'AES-CTR',
    extractable: boolean,
    keyUsages: 'encrypt'[],
  ): Promise<CryptoKey>;
  encrypt(
    algorithm: { name: 'AES-CTR'; counter: Uint8Array; length: number },
    key: CryptoKey,
    data: Uint8Array,
  ): Promise<ArrayBuffer>;
}

declare namespace WebAssembly {
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  function validate(bytes: Uint8Array): boolean;
}
