/** An OKP (Ed25519 or X25519) key as a JSON Web Key: base64url public `x`, private `d`. */
export interface OkpJwk {
  kty: 'OKP';
  crv: 'Ed25519' | 'X25519';
  x: string;
  d?: string;
}

/** Node's KeyObject, as far as the fast paths use it. */
export interface NodeKeyObject {
  export(options: { format: 'jwk' }): { x?: string; d?: string };
}

/**
 * The part of node:crypto the Node fast paths call, declared here rather than taken from Node's
 * type definitions so that shared/ type-checks without them (tsconfig.shared.json).
 */
export interface NodeCryptoModule {
  createCipheriv(algorithm: 'aes-256-ctr', key: Uint8Array, iv: Uint8Array): { update(data: Uint8Array): Uint8Array };
  hash(algorithm: 'sha512', data: Uint8Array, outputEncoding: 'buffer'): Uint8Array;
  createHash(algorithm: 'sha512'): { update(data: Uint8Array): unknown; digest(): Uint8Array };
  createPrivateKey(options: { key: OkpJwk; format: 'jwk' }): NodeKeyObject;
  createPublicKey(options: { key: OkpJwk; format: 'jwk' }): NodeKeyObject;
  sign(algorithm: null, data: Uint8Array, key: NodeKeyObject): Uint8Array;
  verify(algorithm: null, data: Uint8Array, key: NodeKeyObject, signature: Uint8Array): boolean;
  generateKeyPairSync(type: 'x25519'): { privateKey: NodeKeyObject };
  diffieHellman(options: { privateKey: NodeKeyObject; publicKey: NodeKeyObject }): Uint8Array;
}

/**
 * Node's crypto module when running under Node (>= 20.16), else undefined. Fetched through
 * process.getBuiltinModule rather than imported, so this isomorphic code never makes a browser
 * bundler resolve `node:crypto`.
 */
export function nodeCryptoModule(): NodeCryptoModule | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.('node:crypto') as NodeCryptoModule | undefined;
}
