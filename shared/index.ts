// Public API of the isomorphic core (`import { ... } from 'fedserve'`).
export * from './random.js';
export * from './data/dataset.js';
export * from './model/seed-cnn.js';
export * from './model/weights.js';
export * from './training.js';
export * from './aggregation/types.js';
export * from './aggregation/weighted-mean.js';
export * from './aggregation/server-sgd.js';
