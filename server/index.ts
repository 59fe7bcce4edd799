// Public API of the coordinator (`import { ... } from 'fedserve/server'`), Node only.
export * from './app.js';
export * from './config.js';
export * from './coordinator.js';
export * from './round/aggregation-protocol.js';
export * from './round/plaintext-protocol.js';
export * from './round/round-machine.js';
export * from './round-log.js';
export * from './socket-transport.js';
export * from './privacy-runtime.js';
export * from './strategy-runtime.js';
export * from './round/private-protocol.js';
export * from './round/federated-evaluation.js';
export * from './round/secagg-protocol.js';
export * from './secagg-config.js';
export * from './secagg-identities.js';
export * from './secagg-runtime.js';
export * from './secagg-audit.js';
