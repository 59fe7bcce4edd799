// Public API of the coordinator (`import { ... } from 'fedserve/server'`), Node only.
export * from './app.js';
export * from './config.js';
export * from './coordinator.js';
export * from './round/aggregation-protocol.js';
export * from './round/plaintext-protocol.js';
export * from './round/round-machine.js';
export * from './round-log.js';
export * from './socket-transport.js';
