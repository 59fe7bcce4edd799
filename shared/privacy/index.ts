// Differential privacy: accountant, clipping, noise, adaptive clipping, config, ledger.
export * from './rdp.js';
export { logErfc } from './log-math.js';
export * from './gaussian.js';
export * from './clipping.js';
export * from './calibration.js';
export * from './adaptive-clipping.js';
export * from './config.js';
export * from './ledger.js';
export * from './client-privatize.js';
export * from './controller.js';
export * from './poisson-sampler.js';
