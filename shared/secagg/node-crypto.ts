import type * as NodeCrypto from 'node:crypto';

export type NodeCryptoModule = typeof NodeCrypto;

/**
 * Node's crypto module when running under Node (>= 20.16), else undefined. Fetched through
 * process.getBuiltinModule rather than imported, so this isomorphic code never makes a browser
 * bundler resolve `node:crypto`.
 */
export function nodeCryptoModule(): NodeCryptoModule | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.('node:crypto') as NodeCryptoModule | undefined;
}
