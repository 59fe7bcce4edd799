import {
  getGradient,
  getKernel,
  registerGradient,
  registerKernel,
  unregisterKernel,
  type KernelConfig,
} from '@tensorflow/tfjs';
import { _FusedMatMul, BatchMatMul, Cast, Sum } from '@tensorflow/tfjs-core';
import { convBackpropKernels } from './conv-backprop.js';
import { convReluPoolGradient, convReluPoolKernels } from './conv-relu-pool.js';
import { identityKernel, withSameTypeCastShared } from './shared-buffers.js';
import { withExplicitTransposes } from './mat-mul.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { withLeadingAxesSum } from './sum.js';

/** Kernels we add to, or replace in, the wasm backend. */
const OWN_KERNELS: readonly KernelConfig[] = [
  ...convBackpropKernels,
  ...convReluPoolKernels,
  maxPoolGradKernel,
  identityKernel,
];
/** Stock kernels we wrap: name -> wrapper factory, given the stock kernel. */
const WRAPPED: ReadonlyArray<[string, (stock: KernelConfig) => KernelConfig]> = [
  [BatchMatMul, withExplicitTransposes],
  [_FusedMatMul, withExplicitTransposes],
  [Sum, withLeadingAxesSum],
  [Cast, withSameTypeCastShared],
];

const installed = new Set<KernelConfig>();

function install(config: KernelConfig): void {
  if (getKernel(config.kernelName, 'wasm')) unregisterKernel(config.kernelName, 'wasm');
  registerKernel(config);
  installed.add(config);
}

/**
 * Installs our training kernels into the wasm backend (idempotent). Imports the backend first:
 * its module registers the stock kernels, and would overwrite ours if it were loaded later.
 */
export async function registerWasmKernels(): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  for (const config of OWN_KERNELS) {
    if (getKernel(config.kernelName, 'wasm') !== config) install(config);
  }
  for (const [name, wrap] of WRAPPED) {
    const current = getKernel(name, 'wasm');
    if (!current) throw new Error(`the wasm backend has no stock '${name}' kernel to wrap`);
    if (!installed.has(current)) install(wrap(current));
  }
  if (getGradient(convReluPoolGradient.kernelName) !== convReluPoolGradient) registerGradient(convReluPoolGradient);
}
