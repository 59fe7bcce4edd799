// Public API of the Node client (`import { ... } from 'fedserve/client'`).
export * from '../shared/data/data-spec.node.js';
export * from '../shared/data/text-formats.js';
export * from './node-client.js';
export * from './progress.js';
export * from './trainer-pool.js';
export * from './data-parallel-trainer.js';
export * from './held-out-split.js';
export * from './secagg-session.js';
export * from './secagg-audit.js';
export * from './identity-file.js';
